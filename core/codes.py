"""Unguessable, easy-to-read redemption codes (Crockford base32, `XXXX-XXXX-XXXX`, 60 bits)."""

import enum
import secrets

from core.errors import AlreadyRedeemed, CodeExpired, CodeVoid

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS, GROUP_LENGTH = 3, 4
# Crockford: read I/L as 1 and O as 0; hyphens and spaces are only for people.
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0", "-": None, " ": None})


class CodeStatus(enum.StrEnum):
    """Where a redeemable code is in its life (a voucher's goes through all four)."""

    ISSUED = "issued"
    REDEEMED = "redeemed"
    VOID = "void"
    EXPIRED = "expired"


def new_code() -> str:
    """A fresh code with 60 bits from the OS CSPRNG."""
    chars = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LENGTH))
    return "-".join(chars[i : i + GROUP_LENGTH] for i in range(0, len(chars), GROUP_LENGTH))


def normalise_code(raw: str) -> str | None:
    """The canonical form of a code as typed by a person, or None if it cannot be one."""
    chars = raw.upper().translate(_READ_AS)
    if len(chars) != GROUPS * GROUP_LENGTH or any(c not in ALPHABET for c in chars):
        return None
    return "-".join(chars[i : i + GROUP_LENGTH] for i in range(0, len(chars), GROUP_LENGTH))


def refuse_redemption(*, status: str, valid_until, now) -> None:
    """Raise the 409 that explains why a code with this state cannot be redeemed."""
    if status == CodeStatus.REDEEMED:
        raise AlreadyRedeemed("This code was already redeemed.")
    if status == CodeStatus.VOID:
        raise CodeVoid("This code is void.")
    if status == CodeStatus.EXPIRED or (valid_until is not None and valid_until < now):
        raise CodeExpired("This code has expired.")
