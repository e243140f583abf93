"""The ``alert_rules`` table on the real PostgreSQL: the API's changes, seeding at start."""

from __future__ import annotations

import asyncpg
import pytest

from collector.alerts.rule_store import (
    RuleConflictError,
    create_rule,
    delete_rule,
    get_rule,
    list_rules,
    seed_rules,
    update_rule,
)
from collector.alerts.rules import Rule
from collector.matchers import Matcher


async def test_rules_crud_and_conflicts(pool: asyncpg.Pool) -> None:
    rule = Rule(name="HighCpu", kind="threshold", metric="cpu", threshold=90, for_s=300)
    assert await create_rule(pool, rule) == rule
    with pytest.raises(RuleConflictError):
        await create_rule(pool, rule.model_copy(update={"id": "another-id"}))
    assert await get_rule(pool, rule.id) == rule
    changed = rule.model_copy(update={"threshold": 95.0, "enabled": False})
    assert await update_rule(pool, changed) == changed
    assert await update_rule(pool, changed.model_copy(update={"id": "missing"})) is None
    assert await list_rules(pool) == [changed]
    assert await delete_rule(pool, rule.id) and not await delete_rule(pool, rule.id)
    assert await get_rule(pool, rule.id) is None


async def test_seeding_puts_defaults_in_an_empty_table_once_and_upserts_file_rules(
    pool: asyncpg.Pool,
) -> None:
    default = Rule(name="HighCpu", kind="threshold", metric="cpu", threshold=90, source="default")
    other = Rule(name="ServerDown", kind="down", source="default")
    outcome = await seed_rules(pool, [default, other], [])
    assert outcome.defaults_inserted == 2
    await delete_rule(pool, other.id)
    outcome = await seed_rules(pool, [default, other], [])
    assert outcome.defaults_inserted == 0, "a deleted default stays deleted"
    from_file = Rule(name="HighCpu", kind="threshold", metric="cpu", threshold=97, source="file")
    scoped = from_file.model_copy(update={"matchers": (Matcher(name="env", value="prod"),), "id": ""})
    scoped = Rule.model_validate(scoped.model_dump(exclude={"id"}))
    outcome = await seed_rules(pool, [default], [from_file, scoped])
    assert outcome.file_rules_upserted == 2
    rules = {(r.name, r.scope): r for r in await list_rules(pool)}
    assert rules[("HighCpu", "")].threshold == 97 and rules[("HighCpu", "")].source == "file"
    assert rules[("HighCpu", "env='prod'")].source == "file" and len(rules) == 2


async def test_file_rule_replaces_an_api_rule_of_the_same_name_and_scope_keeping_its_id(
    pool: asyncpg.Pool,
) -> None:
    api_rule = Rule(id="custom-1", name="HighCpu", kind="threshold", metric="cpu", threshold=90)
    await create_rule(pool, api_rule)
    await seed_rules(
        pool, [], [Rule(name="HighCpu", kind="threshold", metric="cpu", threshold=99, source="file")]
    )
    (stored,) = await list_rules(pool)
    assert (stored.id, stored.threshold, stored.source) == ("custom-1", 99, "file")
