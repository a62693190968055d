"""An account's own data: its export, and its deletion.

These verbs read and change every domain's rows of one account, so they live here, above the
domains they touch (accounts, deals, payments, check-ins, notifications), and reach the deals'
counters and the payments only through their own verbs. Like every verb they flush and raise; the edge commits.
"""

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from accounts.models import FORMER_MEMBER, Account, Token
from checkins.models import Checkin, Reward
from core.idempotency import IdempotencyKey, account_scope
from deals.errors import DealTipped
from deals.models import Commitment, Voucher
from notifications.models import AlertArea, Device, Notification, OutboxEvent
from payments.services import withdraw
from referrals.models import Credit
from reviews.models import Review
from social import statements
from social.models import FriendNoticeCount, Share
from social.services import list_friends

# Far more than anyone's friends and requests (FRIENDS_PER_ACCOUNT caps them well below).
EXPORT_FRIENDS_MAX = 1_000_000


def export_account(*, session: Session, account: Account) -> dict:
    """Everything the account has given us or done here, for itself: the account, friends and
    requests, check-ins (with the reported points), commitments, vouchers, rewards, shares,
    alert areas, devices (without push tokens), the inbox, reviews and referral credit."""

    def own(model, created=None):
        created = created if created is not None else model.created_at
        query = select(model).where(model.account_id == account.id)
        return list(session.scalars(query.order_by(created.desc(), model.id.desc())))

    return {
        "account": account,
        "friends": list_friends(session=session, account=account, limit=EXPORT_FRIENDS_MAX),
        "checkins": own(Checkin),
        "commitments": own(Commitment),
        "vouchers": own(Voucher),
        "rewards": own(Reward, Reward.earned_at),
        "shares": own(Share),
        "alert_areas": own(AlertArea),
        "devices": own(Device),
        "notifications": own(Notification),
        "reviews": own(Review),
        "credits": own(Credit),
    }


def delete_account(*, session: Session, account: Account, now: datetime) -> None:
    """Delete the account: what is personal goes, what others' records need stays anonymous.

    Pending commitments are withdrawn as a withdrawal does it (each deal's count, participant
    and minute rows with them, and the card holds cancelled right after the response);
    confirmed ones and their vouchers stay, as a merchant's
    obligations, and nobody sees them any more. Check-ins and rewards stay for the venue's
    counts without the reported point, accuracy or message. Friendships and requests, devices,
    alert areas, the inbox, stored responses and every token go. The account row stays as a
    tombstone named "Former member", with no email, handle or password, so every counter keeps
    matching the rows it counts.
    """
    session.execute(select(Account.id).where(Account.id == account.id).with_for_update())
    deleted = {"deleted_id": account.id}
    for deal_id in session.execute(statements.DEALS_WITH_PENDING_COMMITMENTS, deleted).scalars():
        try:
            withdraw(session=session, deal_id=deal_id, account=account, now=now)
        except DealTipped:  # tipped meanwhile: the units are confirmed now, and stay
            pass
    for statement in (
        statements.UNSHARE_COMMITMENTS,
        statements.FORGET_CHECKINS,
        statements.FORGET_FRIENDSHIPS,
        statements.FORGET_FRIEND_REQUESTS,
    ):
        session.execute(statement, deleted)
    for model in (Token, Device, AlertArea, Notification, FriendNoticeCount):
        session.execute(delete(model).where(model.account_id == account.id))
    session.execute(delete(OutboxEvent).where(OutboxEvent.recipient_id == account.id))
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.scope == account_scope(account.id)))
    account.email = f"deleted-{account.id}@deleted.invalid"
    account.password_hash = "!"  # no Argon2 hash: never verifies
    account.display_name = FORMER_MEMBER
    account.handle = None
    account.deleted_at = now
    session.flush()
