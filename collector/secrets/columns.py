"""Every column that holds a sealed secret, and how a row's value is sealed and opened there.

Refresh and API tokens are not here: they are stored as hashes, which never need opening.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.secrets import active
from collector.secrets.keyring import place


@dataclass(frozen=True)
class SealedColumn:
    """A ``bytea`` column of sealed values, each bound to its row's ``id``."""

    table: str
    column: str

    def where(self, row_id: object) -> bytes:
        """The associated data of the value in row ``row_id``."""
        return place(self.table, self.column, row_id)

    def seal(self, row_id: object, text: str) -> bytes:
        """``text`` sealed for row ``row_id`` under the process's current key."""
        return active.keyring().seal_text(text, self.where(row_id))

    def open(self, row_id: object, blob: bytes) -> str:
        """The text sealed in row ``row_id``."""
        return active.keyring().open_text(blob, self.where(row_id))


TOTP_SECRET = SealedColumn("users", "totp_secret_sealed")
"""A user's TOTP secret (base32)."""
CHANNEL_CONFIG = SealedColumn("notification_channels", "config_sealed")
"""A notification channel's whole configuration with its secrets (JSON); ``config`` keeps it redacted."""

SEALED_COLUMNS = (TOTP_SECRET, CHANNEL_CONFIG)
"""What ``openmanager keys rotate`` seals again."""
