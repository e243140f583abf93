"""Host collectors: prometheus_client custom collectors that read the host when scraped.

Each module holds one collector. A collector's boundaries (the procfs or sysfs root, the psutil call, the
clock, the systemctl runner) are constructor parameters, so tests point it at fixture data the way
prometheus_client's ProcessCollector takes a procfs path.
"""
