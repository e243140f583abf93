"""The order of roles: viewer < operator < admin."""

from __future__ import annotations

from collector.storage.users import Role

RANK: dict[Role, int] = {"viewer": 0, "operator": 1, "admin": 2}


def role_at_least(role: Role, minimum: Role) -> bool:
    """True when ``role`` grants everything ``minimum`` does."""
    return RANK[role] >= RANK[minimum]


def lower_role(first: Role, second: Role) -> Role:
    """The less powerful of two roles."""
    return first if RANK[first] <= RANK[second] else second
