"""Sealing every stored secret again under the current key: the database half of ``keys rotate``.

Rows are taken in batches, each batch in its own transaction with its rows locked, and only rows sealed
under another key are taken: an interrupted run leaves every row readable (under the old key or the new),
and running again finishes the job.
"""

from __future__ import annotations

import asyncpg

from collector.secrets.columns import SEALED_COLUMNS, SealedColumn
from collector.secrets.keyring import HEADER_BYTES, Keyring

BATCH_ROWS = 200


def _stale(column: SealedColumn) -> str:
    # The key id is bytes 2-5 of a sealed value (substring counts from 1).
    return f"{column.column} IS NOT NULL AND substring({column.column} from 2 for {HEADER_BYTES - 1}) <> $1"


async def reseal(pool: asyncpg.Pool, keyring: Keyring, *, batch_rows: int = BATCH_ROWS) -> int:
    """Seal under ``keyring``'s current key every value sealed under another; returns how many."""
    total = 0
    for column in SEALED_COLUMNS:
        while True:
            async with pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(
                    f"SELECT id, {column.column} AS blob FROM {column.table} "  # noqa: S608 - names are ours
                    f"WHERE {_stale(column)} ORDER BY id LIMIT $2 FOR UPDATE",
                    keyring.current_id,
                    batch_rows,
                )
                for row in rows:
                    where = column.where(row["id"])
                    await conn.execute(
                        f"UPDATE {column.table} SET {column.column} = $2 WHERE id = $1",  # noqa: S608
                        row["id"],
                        keyring.seal(keyring.open(row["blob"], where), where),
                    )
            total += len(rows)
            if len(rows) < batch_rows:
                break
    return total


async def count_stale(pool: asyncpg.Pool, keyring: Keyring) -> int:
    """How many stored values are sealed under a key other than ``keyring``'s current one."""
    total = 0
    for column in SEALED_COLUMNS:
        count: int = await pool.fetchval(
            f"SELECT count(*) FROM {column.table} WHERE {_stale(column)}",  # noqa: S608 - names are ours
            keyring.current_id,
        )
        total += count
    return total
