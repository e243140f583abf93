"""Which collector scrapes which target: rendezvous (highest random weight) hashing over the live members.

Every member computes the same answer from the same inputs (the live member ids and a target's stable
identity), so no assignment is stored or negotiated. When a member leaves, only its targets move (each to the
member that ranked second for it); when one joins, it takes about ``1/n`` of every other member's targets and
nothing else moves. With ``replicas`` 2 each target has two owners, the two highest ranked.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass


def weight(member: str, identity: str) -> int:
    """The rank of ``member`` for the target ``identity``: a 64-bit hash of both."""
    digest = hashlib.blake2b(f"{member}\x00{identity}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owners(identity: str, members: Iterable[str], replicas: int = 1) -> tuple[str, ...]:
    """The ``replicas`` members (fewer when there are fewer) that scrape ``identity``, best ranked first."""
    ranked = sorted(members, key=lambda member: (weight(member, identity), member), reverse=True)
    return tuple(ranked[:replicas])


@dataclass(frozen=True)
class Tally:
    """How many targets each member owns, and how many have no owner (none while a member is live)."""

    shares: dict[str, int]
    unowned: int


def tally(identities: Iterable[str], members: Iterable[str], replicas: int = 1) -> Tally:
    """Each of ``members``' share of ``identities`` (every member listed, from 0) by :func:`owners`."""
    live = frozenset(members)
    counts: Counter[str] = Counter({member: 0 for member in live})
    unowned = 0
    for identity in identities:
        owning = owners(identity, live, replicas)
        counts.update(owning)
        unowned += not owning
    return Tally(dict(counts), unowned)


@dataclass(frozen=True)
class Ownership:
    """One member's view: the live members and the replication factor, and what ``member`` owns."""

    member: str
    members: frozenset[str]
    replicas: int = 1

    def owns(self, identity: str) -> bool:
        """True when ``member`` is one of the target's owners (always, while it knows no other member)."""
        if len(self.members) <= self.replicas or self.member not in self.members:
            return True
        return self.member in owners(identity, self.members, self.replicas)

    def shares(self, identities: Iterable[str]) -> dict[str, int]:
        """How many of ``identities`` each live member owns."""
        return tally(identities, self.members, self.replicas).shares
