"""The ``alert_rules`` table (migration ``0007_alerts.sql``): each rule's definition as JSON, unique by id
and by name and scope.

The API creates, replaces and deletes rules; at every start :func:`seed_rules` puts the default rules into
an empty table and upserts a rules file's rules. A stored rule that no longer validates (after an upgrade
tightened a field) is logged and left out rather than failing the engine's reload.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg
import structlog
from pydantic import ValidationError

from collector.alerts.rules import Rule

log = structlog.get_logger(__name__)


class RuleConflictError(Exception):
    """A rule with this id, or with this name and scope, exists already."""


def _rule(row: asyncpg.Record) -> Rule | None:
    definition = json.loads(row["definition"])
    try:
        return Rule.model_validate({**definition, "id": row["id"], "source": row["source"]})
    except ValidationError as exc:
        log.error("stored alert rule no longer valid, skipped", rule_id=row["id"], error=str(exc))
        return None


def _definition(rule: Rule) -> str:
    return rule.model_dump_json(exclude={"source"})


async def list_rules(pool: asyncpg.Pool) -> list[Rule]:
    """Every stored rule, by name then id (rules that no longer validate are logged and left out)."""
    rows = await pool.fetch("SELECT id, source, definition FROM alert_rules ORDER BY name, id")
    return [rule for rule in map(_rule, rows) if rule is not None]


async def get_rule(pool: asyncpg.Pool, rule_id: str) -> Rule | None:
    """One rule, or None."""
    row = await pool.fetchrow("SELECT id, source, definition FROM alert_rules WHERE id = $1", rule_id)
    return None if row is None else _rule(row)


async def create_rule(pool: asyncpg.Pool, rule: Rule) -> Rule:
    """Store a new rule; raises :class:`RuleConflictError` when its id, or its name and scope, are taken."""
    try:
        await pool.execute(
            """INSERT INTO alert_rules (id, name, scope, source, enabled, definition)
               VALUES ($1, $2, $3, $4, $5, $6::jsonb)""",
            rule.id,
            rule.name,
            rule.scope,
            rule.source,
            rule.enabled,
            _definition(rule),
        )
    except asyncpg.UniqueViolationError:
        raise RuleConflictError(
            f"a rule named {rule.name!r} with scope {rule.scope!r} or id {rule.id!r} exists"
        ) from None
    return rule


async def update_rule(pool: asyncpg.Pool, rule: Rule) -> Rule | None:
    """Replace the stored rule with ``rule.id`` (its source is kept); None when there is none.

    Raises :class:`RuleConflictError` when the new name and scope are another rule's.
    """
    try:
        row = await pool.fetchrow(
            """UPDATE alert_rules SET name = $2, scope = $3, enabled = $4, definition = $5::jsonb,
                   updated_at = now()
               WHERE id = $1 RETURNING id, source, definition""",
            rule.id,
            rule.name,
            rule.scope,
            rule.enabled,
            _definition(rule),
        )
    except asyncpg.UniqueViolationError:
        raise RuleConflictError(f"a rule named {rule.name!r} with scope {rule.scope!r} exists") from None
    return None if row is None else _rule(row)


async def delete_rule(pool: asyncpg.Pool, rule_id: str) -> bool:
    """Delete a rule; False when there was none. Its alerts resolve at the engine's next evaluation."""
    result: str = await pool.execute("DELETE FROM alert_rules WHERE id = $1", rule_id)
    return result.endswith(" 1")


@dataclass(frozen=True)
class SeedOutcome:
    """What :func:`seed_rules` did."""

    defaults_inserted: int
    file_rules_upserted: int


async def seed_rules(pool: asyncpg.Pool, defaults: Iterable[Rule], file_rules: Iterable[Rule]) -> SeedOutcome:
    """At start: the defaults into an empty ``alert_rules``; a rules file's rules upserted by name and scope.

    A file rule replaces the stored rule of the same name and scope (keeping its id) and is marked as
    coming from the file.
    """
    inserted = upserted = 0
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE alert_rules IN SHARE ROW EXCLUSIVE MODE")
        if await conn.fetchval("SELECT NOT EXISTS (SELECT 1 FROM alert_rules)"):
            for rule in defaults:
                await conn.execute(
                    """INSERT INTO alert_rules (id, name, scope, source, enabled, definition)
                       VALUES ($1, $2, $3, 'default', $4, $5::jsonb) ON CONFLICT DO NOTHING""",
                    rule.id,
                    rule.name,
                    rule.scope,
                    rule.enabled,
                    _definition(rule),
                )
                inserted += 1
        for rule in file_rules:
            await conn.execute(
                """INSERT INTO alert_rules (id, name, scope, source, enabled, definition)
                   VALUES ($1, $2, $3, 'file', $4, $5::jsonb)
                   ON CONFLICT (name, scope) DO UPDATE
                       SET source = 'file', enabled = EXCLUDED.enabled, definition = EXCLUDED.definition,
                           updated_at = now()""",
                rule.id,
                rule.name,
                rule.scope,
                rule.enabled,
                _definition(rule),
            )
            upserted += 1
    return SeedOutcome(inserted, upserted)
