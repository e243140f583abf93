"""Rendezvous hashing: one owner per target, and a member's arrival or departure moves only its share."""

from __future__ import annotations

import pytest

from collector.cluster.ownership import Ownership, owners, tally, weight

TARGETS = [f"{i:016x}" for i in range(3000)]
MEMBERS = frozenset({"c1", "c2", "c3"})


def _owner_map(members: frozenset[str]) -> dict[str, str]:
    return {t: owners(t, members)[0] for t in TARGETS}


def test_every_member_computes_the_same_single_owner() -> None:
    views = [Ownership(m, MEMBERS) for m in sorted(MEMBERS)]
    for target in TARGETS[:500]:
        assert sum(view.owns(target) for view in views) == 1


@pytest.mark.parametrize("members", [frozenset({"a", "b"}), MEMBERS, frozenset(f"m{i}" for i in range(5))])
def test_shares_are_about_even(members: frozenset[str]) -> None:
    shares = Ownership(next(iter(members)), members).shares(TARGETS)
    assert sum(shares.values()) == len(TARGETS)
    expected = len(TARGETS) / len(members)
    assert all(abs(n - expected) < expected * 0.15 for n in shares.values()), shares


def test_a_departure_moves_only_the_departed_members_targets() -> None:
    before, after = _owner_map(MEMBERS), _owner_map(MEMBERS - {"c2"})
    moved = {t for t in TARGETS if before[t] != after[t]}
    assert moved == {t for t in TARGETS if before[t] == "c2"}


def test_a_newcomer_takes_targets_only_for_itself() -> None:
    before, after = _owner_map(MEMBERS), _owner_map(MEMBERS | {"c4"})
    moved = {t for t in TARGETS if before[t] != after[t]}
    assert moved and all(after[t] == "c4" for t in moved)


def test_two_replicas_are_two_distinct_members_led_by_the_single_owner() -> None:
    for target in TARGETS[:300]:
        pair = owners(target, MEMBERS, 2)
        assert len(set(pair)) == 2 and pair[0] == owners(target, MEMBERS)[0]
    views = [Ownership(m, MEMBERS, replicas=2) for m in sorted(MEMBERS)]
    assert all(sum(v.owns(t) for v in views) == 2 for t in TARGETS[:300])


@pytest.mark.parametrize(
    ("member", "members", "replicas"),
    [
        ("c1", frozenset(), 1),
        ("c1", frozenset({"c1"}), 1),
        ("c9", MEMBERS, 1),
        ("c1", frozenset({"c1", "c2"}), 2),
    ],
)
def test_a_member_alone_or_unknown_to_the_others_owns_everything(
    member: str, members: frozenset[str], replicas: int
) -> None:
    view = Ownership(member, members, replicas)
    assert all(view.owns(t) for t in TARGETS[:200])


def test_weight_depends_on_both_member_and_target() -> None:
    assert weight("a", "t") == weight("a", "t")
    assert len({weight("a", "t"), weight("b", "t"), weight("a", "u")}) == 3


@pytest.mark.parametrize(
    ("members", "replicas", "owned", "unowned"),
    [
        (frozenset(), 1, 0, len(TARGETS)),
        (MEMBERS, 1, len(TARGETS), 0),
        (MEMBERS, 2, 2 * len(TARGETS), 0),
        (frozenset({"solo"}), 2, len(TARGETS), 0),
    ],
)
def test_tally_counts_every_owner_of_every_target(
    members: frozenset[str], replicas: int, owned: int, unowned: int
) -> None:
    counted = tally(TARGETS, members, replicas)
    assert set(counted.shares) == members
    assert (sum(counted.shares.values()), counted.unowned) == (owned, unowned)
