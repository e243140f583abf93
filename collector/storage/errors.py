"""Errors the storage layer raises to its callers, shared by the Redis and PostgreSQL writers."""

from __future__ import annotations


class StoreUnavailable(Exception):  # noqa: N818 - reads as a condition: raise StoreUnavailable("redis", …)
    """A store could not be reached or refused a write.

    The caller (a writer task) backs off, marks the store degraded in health and tries again later; the
    original driver exception is chained as ``__cause__``.
    """

    def __init__(self, store: str, detail: str) -> None:
        super().__init__(f"{store} is unavailable: {detail}")
        self.store = store
        """Which store failed: ``redis`` or ``postgres``."""
        self.detail = detail
        """What the driver said, for logs."""
