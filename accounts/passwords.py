"""Password hashing with Argon2id (a slow, memory-hard KDF), a bounded number at a time."""

import threading
from contextlib import contextmanager

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from accounts.errors import PasswordHashingBusy

STANDARD = PasswordHasher()
# Tests create hundreds of accounts; the fast profile keeps Argon2id but with a tiny cost.
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
# Verified against when the email is unknown, so both paths cost the same time.
_DUMMY_HASHES = {}
BUSY_RETRY_AFTER_SECONDS = 1


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


class PasswordHashing:
    """Hash and verify passwords, at most `concurrency` at once in this process.

    Every hash costs a core for tens of milliseconds, and anyone can ask for one (a login with
    a random email, a registration): past the bound a request waits at most `wait_seconds` for
    a slot, then gets 503 with Retry-After instead of queueing up behind the others.
    """

    def __init__(self, *, fast: bool, concurrency: int, wait_seconds: float):
        self.fast = fast
        self.wait_seconds = wait_seconds
        self._slots = threading.BoundedSemaphore(concurrency)

    @contextmanager
    def slot(self):
        """Hold one hashing slot; 503 `password-hashing-busy` if none frees up in time."""
        if not self._slots.acquire(timeout=self.wait_seconds):
            raise PasswordHashingBusy(BUSY_RETRY_AFTER_SECONDS)
        try:
            yield
        finally:
            self._slots.release()

    def hash(self, password: str) -> str:
        """`hash_password` within a slot."""
        with self.slot():
            return hash_password(password, fast=self.fast)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """`verify_password` within a slot."""
        with self.slot():
            return verify_password(password_hash, password, fast=self.fast)


def app_password_hashing() -> PasswordHashing:
    """The current app's `PasswordHashing`, built from its config on first use."""
    extensions = current_app.extensions
    if "password_hashing" not in extensions:
        config = current_app.config
        extensions.setdefault(
            "password_hashing",
            PasswordHashing(
                fast=config["PASSWORD_HASH_FAST"],
                concurrency=config["PASSWORD_HASH_CONCURRENCY"],
                wait_seconds=config["PASSWORD_HASH_WAIT_MS"] / 1000,
            ),
        )
    return extensions["password_hashing"]
