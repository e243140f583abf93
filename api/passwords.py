"""Password hashing with argon2id (RFC 9106 low-memory profile: 64 MiB, 3 passes, 4 lanes), and the rules a
new password must pass.

A new password needs ten characters and must not be guessable: zxcvbn (Dropbox's estimator, its word and
common-password lists shipped in the package, nothing fetched) must rate it at least "safely unguessable"
(score 3, about 10**8 guesses), counting the username and the product's name as known words; and it must not
be or contain the username.
"""

from __future__ import annotations

import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

_HASHER = PasswordHasher()

MIN_PASSWORD_LENGTH = 10
MIN_GUESSABILITY_SCORE = 3
"""zxcvbn's 0-4 scale: 3 is "safely unguessable", about 10**8 guesses."""
SCORED_LENGTH = 72
"""zxcvbn refuses longer input; the characters past it only add strength."""
USERNAME_INSIDE_MIN_LENGTH = 4
"""A username this long or longer must not appear inside the password (a shorter one only not be it)."""
CONTEXT_WORDS = ("openmanager",)

# zxcvbn keeps the user's words in a module-level dictionary while it scores: one call at a time.
_ZXCVBN_LOCK = threading.Lock()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` in the PHC string format."""
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches ``stored_hash``; a malformed hash never matches."""
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when ``stored_hash`` was made with weaker parameters than the current ones."""
    return _HASHER.check_needs_rehash(stored_hash)


def check_password_strength(password: str, *, username: str) -> str | None:
    """Why ``password`` is not acceptable as ``username``'s new password, or None when it is."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    if password.strip() != password:
        return "a password must not start or end with white space"
    name, folded = username.casefold(), password.casefold()
    if folded == name or (len(name) >= USERNAME_INSIDE_MIN_LENGTH and name in folded):
        return "a password must not contain the username"
    with _ZXCVBN_LOCK:
        rating = zxcvbn(password[:SCORED_LENGTH], user_inputs=[username, *CONTEXT_WORDS])
    if rating["score"] < MIN_GUESSABILITY_SCORE:
        warning = str(rating["feedback"]["warning"]).rstrip(".")
        why = f" ({warning})" if warning else ""
        return f"this password is too easy to guess{why}; a few unrelated words make a strong one"
    return None


def generate_password() -> str:
    """A random password for a generated account (about 128 bits)."""
    return secrets.token_urlsafe(16)
