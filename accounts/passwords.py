"""Password hashing with Argon2id (a slow, memory-hard KDF)."""
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

STANDARD = PasswordHasher()
# Tests create hundreds of accounts; the fast profile keeps Argon2id but with a tiny cost.
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
# Verified against when the email is unknown, so both paths cost the same time.
_DUMMY_HASHES = {}


def _hasher(fast: bool) -> PasswordHasher:
    return FAST if fast else STANDARD


def hash_password(password: str, *, fast: bool = False) -> str:
    """Hash a password for storage."""
    return _hasher(fast).hash(password)


def verify_password(password_hash: str | None, password: str, *, fast: bool = False) -> bool:
    """Check a password; with no stored hash, burn the same time and answer False."""
    hasher = _hasher(fast)
    if password_hash is None:
        if fast not in _DUMMY_HASHES:
            _DUMMY_HASHES[fast] = hasher.hash("not-a-real-password")
        _check(hasher, _DUMMY_HASHES[fast], password)
        return False
    return _check(hasher, password_hash, password)


def _check(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
