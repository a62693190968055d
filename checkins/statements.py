"""The SQL of a check-in, named for what it does, in the order `check_in` runs it.

Every statement of the check-in path is built once: building a construct and its cache key
per request cost more Python time than running it (cProfile: SQL expression coercion and
cache keys were the largest item after waiting on the database). Values vary only through
bind parameters.

SQLAlchemy adds every execution parameter named like a column of a table that a statement
UPDATEs (or INSERTs with VALUES) to that write, CTEs included, so a bind parameter here is
never named like one (hence `venue`, not `venue_id`, beside the UPDATE of
reward_programs): tests/unit/test_statement_parameters.py checks each statement.
"""

import hashlib
import uuid
from datetime import timedelta

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    String,
    and_,
    bindparam,
    case,
    distinct,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from accounts.models import Account
from checkins.models import Checkin, ProgramKind, Reward, RewardProgram
from geo.postgis import distance_m, point
from notifications.services import enqueue_insert
from social.models import FriendNoticeCount, Friendship
from venues.models import Venue

CONCURRENT_CLOCK_SLACK = timedelta(minutes=1)


def account_lock_id(account_id: uuid.UUID) -> int:
    """The advisory lock key (`lock`) that serialises one account's check-ins."""
    digest = hashlib.sha256(b"checkin:" + account_id.bytes).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _param(name: str, column):
    return bindparam(name, type_=column.type)


_NOW = _param("now", Checkin.created_at)
_ACCOUNT = _param("account_id", Checkin.account_id)
_VENUE = _param("venue", Checkin.venue_id)
_DAY = _param("local_day", Checkin.local_day)
_FIRST_DAY = _param("first_day", Checkin.local_day)
_HERE = point(bindparam("lat", type_=Float), bindparam("lon", type_=Float))


def _own_counted(*conditions):
    """This account's counted check-ins at this venue up to `now`, narrowed by `conditions`."""
    return and_(
        Checkin.account_id == _ACCOUNT,
        Checkin.venue_id == _VENUE,
        Checkin.counted,
        Checkin.created_at <= _NOW,
        *conditions,
    )


def _days_in_mayor_window(account_id):
    return (
        select(func.count(distinct(Checkin.local_day)))
        .where(
            Checkin.account_id == account_id,
            Checkin.venue_id == _VENUE,
            Checkin.counted,
            Checkin.local_day >= _FIRST_DAY,
            Checkin.local_day <= _DAY,
        )
        .scalar_subquery()
    )


# The venue, the distance to it, and the account's lock: one account's check-ins are evaluated
# one at a time, so "previous", the per-day rule and the account's own counts are exact.
LOCK_ACCOUNT_AND_FIND_VENUE = select(
    Venue.id,
    Venue.merchant_id,
    Venue.name,
    Venue.timezone,
    Venue.checkin_radius_m,
    distance_m(Venue.location, _HERE).label("distance"),
    func.pg_advisory_xact_lock(bindparam("lock", type_=BigInteger)),
).where(Venue.id == _VENUE)

_previous = (
    select(Checkin.location, Checkin.created_at)
    .where(
        Checkin.account_id == _ACCOUNT,
        Checkin.counted,
        Checkin.created_at <= _NOW,
    )
    .order_by(Checkin.created_at.desc())
    .limit(1)
    .subquery("previous")
)
_last_reward = (
    select(func.max(Reward.earned_at))
    .where(
        Reward.program_id == RewardProgram.id,
        Reward.account_id == _ACCOUNT,
    )
    .correlate(RewardProgram)
    .scalar_subquery()
)
_ACCOUNT_OR_ITS_FRIENDS = or_(
    Checkin.account_id == _ACCOUNT,
    Checkin.account_id.in_(select(Friendship.friend_id).where(Friendship.account_id == _ACCOUNT)),
)


def _accounts_in_program_window(*conditions):
    """How many distinct accounts (narrowed by `conditions`) counted at the venue within the
    program's `window_minutes` (an estimate: see STANDING_IN_RUNNING_PROGRAMS)."""
    return (
        select(func.count(distinct(Checkin.account_id)))
        .where(
            Checkin.venue_id == _VENUE,
            Checkin.counted,
            Checkin.created_at
            >= func.greatest(
                _NOW - func.make_interval(0, 0, 0, 0, 0, RewardProgram.window_minutes),
                RewardProgram.starts_at,
            ),
            Checkin.created_at <= _NOW + CONCURRENT_CLOCK_SLACK,
            *conditions,
        )
        .scalar_subquery()
    )


_FREQUENCY_START = func.greatest(
    _NOW - func.make_interval(0, 0, 0, RewardProgram.window_days), RewardProgram.starts_at
)

# After the lock (a fresh snapshot): what verification needs, and every active program with
# the account's own standing in it before this check-in. Figures that depend on other
# accounts are only estimates here; a counted check-in re-reads them under the program lock.
STANDING_IN_RUNNING_PROGRAMS = (
    select(
        select(distance_m(_previous.c.location, _HERE))
        .scalar_subquery()
        .label("previous_distance"),
        select(_previous.c.created_at).scalar_subquery().label("previous_at"),
        exists()
        .where(
            Checkin.account_id == _ACCOUNT,
            Checkin.venue_id == _VENUE,
            Checkin.local_day == _DAY,
            Checkin.counted,
        )
        .label("counted_today"),
        select(func.count()).where(_own_counted()).scalar_subquery().label("counted_ever"),
        *RewardProgram.__table__.columns,
        case(
            (
                RewardProgram.kind == ProgramKind.EVERY_NTH,
                select(func.count())
                .where(_own_counted(Checkin.created_at >= RewardProgram.starts_at))
                .scalar_subquery(),
            ),
        ).label("counted_since_start"),
        case(
            (
                or_(
                    RewardProgram.kind == ProgramKind.FREQUENCY,
                    RewardProgram.kind == ProgramKind.FLASH,
                ),
                _last_reward,
            )
        ).label("last_reward_at"),
        case(
            (
                RewardProgram.kind == ProgramKind.FREQUENCY,
                select(func.count())
                .where(
                    _own_counted(
                        Checkin.created_at >= _FREQUENCY_START,
                        Checkin.created_at
                        > func.coalesce(
                            _last_reward, literal("-infinity", DateTime(timezone=True))
                        ),
                    )
                )
                .scalar_subquery(),
            )
        ).label("counted_in_window"),
        case((RewardProgram.kind == ProgramKind.MAYOR, _days_in_mayor_window(_ACCOUNT))).label(
            "mayor_days"
        ),
        case(
            (RewardProgram.kind == ProgramKind.MAYOR, _days_in_mayor_window(RewardProgram.mayor_id))
        ).label("incumbent_days"),
        case(
            (RewardProgram.kind == ProgramKind.SWARM, _accounts_in_program_window()),
            (
                RewardProgram.kind == ProgramKind.FRIENDS,
                _accounts_in_program_window(_ACCOUNT_OR_ITS_FRIENDS),
            ),
        ).label("window_members"),
    )
    .select_from(
        select(literal(1))
        .subquery("one")
        .outerjoin(
            RewardProgram,
            and_(
                RewardProgram.venue_id == _VENUE,
                RewardProgram.starts_at <= _NOW,
                or_(RewardProgram.ends_at.is_(None), RewardProgram.ends_at > _NOW),
            ),
        )
    )
    .order_by(RewardProgram.created_at, RewardProgram.id)
)

_INSERT_CHECKIN_VALUES = {
    name: bindparam(name, type_=Checkin.__table__.c[name].type)
    for name in (
        "account_id",
        "venue_id",
        "location",
        "accuracy_m",
        "is_mock",
        "message",
        "distance_m",
        "counted",
        "reasons",
        "local_day",
        "created_at",
        "share",
    )
}
_CHECKIN_COLUMNS = (
    Checkin.id,
    Checkin.account_id,
    Checkin.venue_id,
    Checkin.created_at,
    Checkin.distance_m,
    Checkin.counted,
    Checkin.reasons,
    Checkin.local_day,
    Checkin.share,
)
# Locks the mayor and swarm programs (ids in `locks`, ordered against deadlocks) in the same
# round trip as the insert; the figures they guard are read by the next statement.
_program_locks = (
    select(RewardProgram.id)
    .where(RewardProgram.id == func.any(bindparam("locks", type_=ARRAY(RewardProgram.id.type))))
    .order_by(RewardProgram.id)
    .with_for_update()
    .cte("program_locks")
)
_VENUE_NAME = bindparam("venue_name", type_=String)


def _with_checkin_event(insert, *columns):
    """`insert` of a check-in and its checkin.created event for the merchant, in one statement."""
    inserted = insert.returning(*_CHECKIN_COLUMNS).cte("inserted")
    event = enqueue_insert(
        "checkin.created",
        select(
            bindparam("merchant_id", type_=Venue.merchant_id.type).label("recipient_id"),
            literal("New check-in").label("title"),
            (literal("Someone checked in at ") + _VENUE_NAME + literal(".")).label("body"),
            func.jsonb_build_object(
                "checkin_id",
                inserted.c.id.cast(String),
                "venue_id",
                inserted.c.venue_id.cast(String),
                "counted",
                inserted.c.counted,
            ).label("payload"),
            (literal("checkin.created:") + inserted.c.id.cast(String)).label("event_key"),
        ).select_from(inserted),
    ).cte("checkin_event")
    return select(inserted, *columns).add_cte(event)


INSERT_COUNTED_CHECKIN_AND_LOCK_PROGRAMS = _with_checkin_event(
    pg_insert(Checkin)
    .values(_INSERT_CHECKIN_VALUES)
    .on_conflict_do_nothing(
        index_elements=["account_id", "venue_id", "local_day"], index_where=text("counted")
    ),
    select(func.count()).select_from(_program_locks).scalar_subquery().label("locked"),
)
INSERT_REFUSED_CHECKIN = _with_checkin_event(pg_insert(Checkin).values(_INSERT_CHECKIN_VALUES))

_PROGRAM = _param("program_id", RewardProgram.id)
# Under the program lock: the mayor, their days, and (without one) the best other account's.
_rival_days = (
    select(func.count(distinct(Checkin.local_day)).label("days"))
    .where(
        Checkin.venue_id == _VENUE,
        Checkin.counted,
        Checkin.account_id != _ACCOUNT,
        Checkin.local_day >= _FIRST_DAY,
        Checkin.local_day <= _DAY,
    )
    .group_by(Checkin.account_id)
    .subquery()
)
MAYOR_AND_RIVAL_DAYS = select(
    RewardProgram.mayor_id,
    _days_in_mayor_window(RewardProgram.mayor_id).label("incumbent_days"),
    case(
        (
            RewardProgram.mayor_id.is_(None),
            select(func.coalesce(func.max(_rival_days.c.days), 0)).scalar_subquery(),
        ),
        else_=0,
    ).label("rival_days"),
).where(RewardProgram.id == _PROGRAM)
MAKE_ACCOUNT_MAYOR = (
    update(RewardProgram).where(RewardProgram.id == _PROGRAM).values(mayor_id=_ACCOUNT)
)
# Under the program lock: each swarm member with the local day of their own visit in the window,
# so a swarm that spans midnight does not pay last night's members twice for one visit.
# Concurrent check-ins take `now` before queueing for the lock, so one that committed ahead of
# us may carry a slightly later `now`: it belongs to the swarm all the same.
SWARM_MEMBERS_IN_WINDOW = (
    select(
        Checkin.account_id,
        func.max(Checkin.local_day).label("last_counted_day"),
    )
    .where(
        Checkin.venue_id == _VENUE,
        Checkin.counted,
        Checkin.created_at >= bindparam("window_start", type_=Checkin.created_at.type),
        Checkin.created_at <= _NOW + CONCURRENT_CLOCK_SLACK,
    )
    .group_by(Checkin.account_id)
    .order_by(Checkin.account_id)
)
# The same for a friends special: only the account and its friends are the group.
FRIENDS_MEMBERS_IN_WINDOW = SWARM_MEMBERS_IN_WINDOW.where(_ACCOUNT_OR_ITS_FRIENDS)

# One reward, given once: take one of the program's rewards (max_rewards and the flash
# threshold hold under concurrency) and insert it, in one statement. Every dedupe key is
# written under the account's or the program's lock, so a key already there is seen and
# nothing is taken for it. Returns the program's count either way (flash progress needs it).
_taken = (
    update(RewardProgram)
    .where(
        RewardProgram.id == _PROGRAM,
        or_(
            RewardProgram.max_rewards.is_(None),
            RewardProgram.rewards_issued < RewardProgram.max_rewards,
        ),
        or_(
            RewardProgram.kind != ProgramKind.FLASH,
            RewardProgram.rewards_issued < RewardProgram.threshold,
        ),
        ~exists().where(Reward.dedupe_key == bindparam("dedupe_key")),
    )
    .values(rewards_issued=RewardProgram.rewards_issued + 1)
    .returning(RewardProgram.id, RewardProgram.rewards_issued, RewardProgram.title)
    .cte("taken")
)
_granted = (
    pg_insert(Reward)
    .from_select(
        [
            "code",
            "dedupe_key",
            "program_id",
            "venue_id",
            "account_id",
            "checkin_id",
            "title",
            "earned_at",
        ],
        select(
            bindparam("code", type_=Reward.code.type),
            bindparam("dedupe_key", type_=Reward.dedupe_key.type),
            _taken.c.id,
            _VENUE,
            _ACCOUNT,
            bindparam("checkin_id", type_=Reward.checkin_id.type),
            _taken.c.title,
            _NOW,
        ),
    )
    .on_conflict_do_nothing(index_elements=["dedupe_key"])
    .returning(
        Reward.id,
        Reward.code,
        Reward.program_id,
        Reward.venue_id,
        Reward.account_id,
        Reward.title,
        Reward.status,
        Reward.earned_at,
        Reward.redeemed_at,
    )
    .cte("granted")
)
_reward_event = enqueue_insert(
    "reward.earned",
    select(
        _granted.c.account_id.label("recipient_id"),
        literal("Reward earned").label("title"),
        (
            literal("You earned “")
            + _granted.c.title
            + literal("” at ")
            + _VENUE_NAME
            + literal(".")
        ).label("body"),
        func.jsonb_build_object(
            "code",
            _granted.c.code,
            "program_id",
            _granted.c.program_id.cast(String),
            "venue_id",
            _granted.c.venue_id.cast(String),
            "title",
            _granted.c.title,
        ).label("payload"),
        (literal("reward.earned:") + _granted.c.id.cast(String)).label("event_key"),
    ).select_from(_granted),
).cte("reward_event")
TAKE_AND_GRANT_ONE_REWARD = (
    select(
        func.coalesce(_taken.c.rewards_issued, RewardProgram.rewards_issued).label("issued"),
        _taken.c.id.is_not(None).label("taken"),
        _granted,
    )
    .select_from(RewardProgram.__table__.outerjoin(_taken, true()).outerjoin(_granted, true()))
    .where(RewardProgram.id == _PROGRAM)
    .add_cte(_reward_event)
)
# A reward taken whose dedupe key turned out to be given already: the count goes back.
GIVE_BACK_TAKEN_REWARD = (
    update(RewardProgram)
    .where(RewardProgram.id == _PROGRAM)
    .values(rewards_issued=RewardProgram.rewards_issued - 1)
)
# Which of the dedupe keys in `keys` have their reward already.
REWARDS_ALREADY_GIVEN = select(Reward.dedupe_key).where(
    Reward.dedupe_key == func.any(bindparam("keys", type_=ARRAY(Reward.dedupe_key.type)))
)


def counted_checkin_at_venue(account_id, venue_id, since, since_day):
    """EXISTS a counted check-in of the account at the venue at `since` or later: a range of
    uq_checkins_counted_per_day, bounded by the venue-local day `since_day` (no later than the
    local day of `since` anywhere) so that only that range is read."""
    return exists().where(
        Checkin.account_id == account_id,
        Checkin.venue_id == venue_id,
        Checkin.counted,
        Checkin.local_day >= since_day,
        Checkin.created_at >= since,
    )


# A shared, counted check-in tells the account's friends, each at most `notice_cap` times a UTC
# day: the conditional upsert of each friend's daily count decides (exact under concurrency;
# rows taken in friend order, so two check-ins with common friends cannot deadlock), and only
# the friends it counted get the event. It names the venue, never the point.
_noticed = (
    pg_insert(FriendNoticeCount)
    .from_select(
        ["account_id", "day", "notices"],
        select(
            Friendship.friend_id,
            bindparam("notice_day", type_=FriendNoticeCount.day.type),
            literal(1),
        )
        .where(Friendship.account_id == _ACCOUNT)
        .order_by(Friendship.friend_id),
    )
    .on_conflict_do_update(
        index_elements=["account_id", "day"],
        set_={"notices": FriendNoticeCount.notices + 1},
        where=FriendNoticeCount.notices
        < bindparam("notice_cap", type_=FriendNoticeCount.notices.type),
    )
    .returning(FriendNoticeCount.account_id)
    .cte("noticed")
)
_CHECKIN = bindparam("checkin_id", type_=Checkin.id.type)
_friend_name = select(Account.display_name).where(Account.id == _ACCOUNT).scalar_subquery()
TELL_FRIENDS_OF_CHECKIN = enqueue_insert(
    "friend.checked_in",
    select(
        _noticed.c.account_id.label("recipient_id"),
        (_friend_name + literal(" checked in")).label("title"),
        (_friend_name + literal(" is at ") + _VENUE_NAME + literal(".")).label("body"),
        func.jsonb_build_object(
            "checkin_id",
            _CHECKIN.cast(String),
            "venue_id",
            _VENUE.cast(String),
            "venue_name",
            _VENUE_NAME,
            "friend_id",
            _ACCOUNT.cast(String),
            "friend_name",
            _friend_name,
        ).label("payload"),
        (literal("friend.checked_in:") + _CHECKIN.cast(String)).label("event_key"),
    ).select_from(_noticed),
)
