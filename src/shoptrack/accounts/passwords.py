"""Password hashing for dashboard users: argon2id with argon2-cffi's current defaults."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from shoptrack.errors import Reason, ShoptrackError

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()

# Verified against when the account does not exist, so that a wrong e-mail costs as much time
# as a wrong password and the answer's timing does not tell which accounts exist.
_DUMMY_HASH = _hasher.hash("shoptrack: no such account")


def check_password_rules(password: str) -> None:
    """Refuse passwords too short to resist guessing, or too long to hash cheaply."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ShoptrackError(
            Reason.INVALID_VALUE,
            f"password: must be at least {MIN_PASSWORD_LENGTH} characters",
            "password",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ShoptrackError(
            Reason.INVALID_VALUE,
            f"password: must be at most {MAX_PASSWORD_LENGTH} characters",
            "password",
        )


def hash_password(password: str) -> str:
    check_password_rules(password)
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; a missing account (``None``) costs the same time."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """After a verified sign-in: argon2's parameters have grown since this hash was made."""
    return _hasher.check_needs_rehash(stored_hash)
