"""Errors of the deals domain (codes fixed by docs/API.md)."""

from core.errors import Conflict


class DealNotOpen(Conflict):
    code, title = "deal-not-open", "The deal is not open for commitments"


class SoldOut(Conflict):
    code, title = "sold-out", "Not enough units left"


class PerUserLimit(Conflict):
    code, title = "per-user-limit", "That would pass your per-user limit for this deal"


class DealTipped(Conflict):
    code, title = "deal-tipped", "The deal has tipped; commitments can no longer be withdrawn"


class DealHasCommitments(Conflict):
    code, title = (
        "deal-has-commitments",
        "Only title and description can change once people committed",
    )


class VoucherRefunded(Conflict):
    code, title = "voucher-refunded", "The voucher was refunded"
