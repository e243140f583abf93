"""Collectors sharing a fleet: membership in Redis, target ownership by rendezvous hashing, leases."""
