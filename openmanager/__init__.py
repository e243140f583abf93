"""OpenManager: the composition root that runs the collector and the API together."""
