"""Check-in verbs: check in (verify, count, evaluate programs), programs, rewards, redemption."""
import hashlib
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger, DateTime, Float, Row, String, and_, bindparam, case, distinct, exists, func, literal, or_,
    select, text, true, update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from accounts.models import Account
from checkins import rewards as rules
from checkins.models import Checkin, Reward, RewardProgram
from checkins.verification import PreviousCheckin, failed_rules
from core.codes import new_code, normalise_code, refuse_redemption
from core.db import newest_first
from core.errors import NotFound, ValidationFailed
from core.limits import claim_slot
from geo.points import to_ewkt
from geo.postgis import distance_m, point
from notifications.services import enqueue, enqueue_insert
from venues.models import Venue
from venues.services import get_owned_venue


CONCURRENT_CLOCK_SLACK = timedelta(minutes=1)


def _account_lock_id(account_id: uuid.UUID) -> int:
    digest = hashlib.sha256(b"checkin:" + account_id.bytes).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# ---------------------------------------------------------------------------- check in
# Every statement of the check-in path is built once: building a construct and its cache key
# per request cost more Python time than running it (cProfile: SQL expression coercion and
# cache keys were the largest item after waiting on the database). Values vary only through
# bind parameters.

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
    return and_(Checkin.account_id == _ACCOUNT, Checkin.venue_id == _VENUE, Checkin.counted,
                Checkin.created_at <= _NOW, *conditions)


def _days_in_mayor_window(account_id):
    return select(func.count(distinct(Checkin.local_day))).where(
        Checkin.account_id == account_id, Checkin.venue_id == _VENUE, Checkin.counted,
        Checkin.local_day >= _FIRST_DAY, Checkin.local_day <= _DAY,
    ).scalar_subquery()


# The venue, the distance to it, and the account's lock: one account's check-ins are evaluated
# one at a time, so "previous", the per-day rule and the account's own counts are exact.
_VENUE_AND_LOCK = select(
    Venue.id, Venue.merchant_id, Venue.name, Venue.timezone, Venue.checkin_radius_m,
    distance_m(Venue.location, _HERE).label("distance"),
    func.pg_advisory_xact_lock(bindparam("lock", type_=BigInteger)),
).where(Venue.id == _VENUE)

_previous = select(Checkin.location, Checkin.created_at).where(
    Checkin.account_id == _ACCOUNT, Checkin.counted, Checkin.created_at <= _NOW,
).order_by(Checkin.created_at.desc()).limit(1).subquery("previous")
_last_reward = select(func.max(Reward.earned_at)).where(
    Reward.program_id == RewardProgram.id, Reward.account_id == _ACCOUNT,
).correlate(RewardProgram).scalar_subquery()
_FREQUENCY_START = func.greatest(_NOW - func.make_interval(0, 0, 0, RewardProgram.window_days),
                                 RewardProgram.starts_at)

# After the lock (a fresh snapshot): what verification needs, and every active program with
# the account's own standing in it before this check-in. Figures that depend on other
# accounts are only estimates here; a counted check-in re-reads them under the program lock.
_STANDING = select(
    select(distance_m(_previous.c.location, _HERE)).scalar_subquery().label("previous_distance"),
    select(_previous.c.created_at).scalar_subquery().label("previous_at"),
    exists().where(Checkin.account_id == _ACCOUNT, Checkin.venue_id == _VENUE,
                   Checkin.local_day == _DAY, Checkin.counted).label("counted_today"),
    select(func.count()).where(_own_counted()).scalar_subquery().label("counted_ever"),
    *RewardProgram.__table__.columns,
    case((RewardProgram.kind == "every_nth", select(func.count()).where(
        _own_counted(Checkin.created_at >= RewardProgram.starts_at)).scalar_subquery()),
    ).label("counted_since_start"),
    case((or_(RewardProgram.kind == "frequency", RewardProgram.kind == "flash"), _last_reward)
         ).label("last_reward_at"),
    case((RewardProgram.kind == "frequency", select(func.count()).where(_own_counted(
        Checkin.created_at >= _FREQUENCY_START,
        Checkin.created_at > func.coalesce(_last_reward, literal("-infinity", DateTime(timezone=True))),
    )).scalar_subquery())).label("counted_in_window"),
    case((RewardProgram.kind == "mayor", _days_in_mayor_window(_ACCOUNT))).label("mayor_days"),
    case((RewardProgram.kind == "mayor", _days_in_mayor_window(RewardProgram.mayor_id))
         ).label("incumbent_days"),
    case((RewardProgram.kind == "swarm", select(func.count(distinct(Checkin.account_id))).where(
        Checkin.venue_id == _VENUE, Checkin.counted,
        Checkin.created_at >= func.greatest(
            _NOW - func.make_interval(0, 0, 0, 0, 0, RewardProgram.window_minutes),
            RewardProgram.starts_at),
        Checkin.created_at <= _NOW + CONCURRENT_CLOCK_SLACK,
    ).scalar_subquery())).label("swarm_members"),
).select_from(
    select(literal(1)).subquery("one").outerjoin(RewardProgram, and_(
        RewardProgram.venue_id == _VENUE, RewardProgram.starts_at <= _NOW,
        or_(RewardProgram.ends_at.is_(None), RewardProgram.ends_at > _NOW),
    ))
).order_by(RewardProgram.created_at, RewardProgram.id)

_INSERT_CHECKIN_VALUES = {
    name: bindparam(name, type_=Checkin.__table__.c[name].type)
    for name in ("account_id", "venue_id", "location", "accuracy_m", "is_mock", "message",
                 "distance_m", "counted", "reasons", "local_day", "created_at")
}
_CHECKIN_COLUMNS = (Checkin.id, Checkin.account_id, Checkin.venue_id, Checkin.created_at,
                    Checkin.distance_m, Checkin.counted, Checkin.reasons, Checkin.local_day)
# Locks the mayor and swarm programs (ids in `locks`, ordered against deadlocks) in the same
# round trip as the insert; the figures they guard are read by the next statement.
_program_locks = select(RewardProgram.id).where(
    RewardProgram.id == func.any(bindparam("locks", type_=ARRAY(RewardProgram.id.type)))
).order_by(RewardProgram.id).with_for_update().cte("program_locks")
_VENUE_NAME = bindparam("venue_name", type_=String)


def _with_checkin_event(insert, *columns):
    """`insert` of a check-in and its checkin.created event for the merchant, in one statement."""
    inserted = insert.returning(*_CHECKIN_COLUMNS).cte("inserted")
    event = enqueue_insert("checkin.created", select(
        bindparam("merchant_id", type_=Venue.merchant_id.type).label("recipient_id"),
        literal("New check-in").label("title"),
        (literal("Someone checked in at ") + _VENUE_NAME + literal(".")).label("body"),
        func.jsonb_build_object("checkin_id", inserted.c.id.cast(String),
                                "venue_id", inserted.c.venue_id.cast(String),
                                "counted", inserted.c.counted).label("payload"),
        (literal("checkin.created:") + inserted.c.id.cast(String)).label("event_key"),
    ).select_from(inserted)).cte("checkin_event")
    return select(inserted, *columns).add_cte(event)


_INSERT_COUNTED = _with_checkin_event(
    pg_insert(Checkin).values(_INSERT_CHECKIN_VALUES)
    .on_conflict_do_nothing(index_elements=["account_id", "venue_id", "local_day"],
                            index_where=text("counted")),
    select(func.count()).select_from(_program_locks).scalar_subquery().label("locked"),
)
_INSERT_REFUSED = _with_checkin_event(pg_insert(Checkin).values(_INSERT_CHECKIN_VALUES))

_PROGRAM = _param("program_id", RewardProgram.id)
# Under the program lock: the mayor, their days, and (without one) the best other account's.
_rival_days = select(func.count(distinct(Checkin.local_day)).label("days")).where(
    Checkin.venue_id == _VENUE, Checkin.counted, Checkin.account_id != _ACCOUNT,
    Checkin.local_day >= _FIRST_DAY, Checkin.local_day <= _DAY,
).group_by(Checkin.account_id).subquery()
_MAYORSHIP = select(
    RewardProgram.mayor_id,
    _days_in_mayor_window(RewardProgram.mayor_id).label("incumbent_days"),
    case((RewardProgram.mayor_id.is_(None),
          select(func.coalesce(func.max(_rival_days.c.days), 0)).scalar_subquery()),
         else_=0).label("rival_days"),
).where(RewardProgram.id == _PROGRAM)
_SET_MAYOR = update(RewardProgram).where(RewardProgram.id == _PROGRAM).values(mayor_id=_ACCOUNT)
# Under the program lock: each swarm member with the local day of their own visit in the window,
# so a swarm that spans midnight does not pay last night's members twice for one visit.
# Concurrent check-ins take `now` before queueing for the lock, so one that committed ahead of
# us may carry a slightly later `now`: it belongs to the swarm all the same.
_SWARM_MEMBERS = select(Checkin.account_id, func.max(Checkin.local_day)).where(
    Checkin.venue_id == _VENUE, Checkin.counted,
    Checkin.created_at >= bindparam("window_start", type_=Checkin.created_at.type),
    Checkin.created_at <= _NOW + CONCURRENT_CLOCK_SLACK,
).group_by(Checkin.account_id).order_by(Checkin.account_id)

# One reward, given once: take one of the program's rewards (max_rewards and the flash
# threshold hold under concurrency) and insert it, in one statement. Every dedupe key is
# written under the account's or the program's lock, so a key already there is seen and
# nothing is taken for it. Returns the program's count either way (flash progress needs it).
_taken = update(RewardProgram).where(
    RewardProgram.id == _PROGRAM,
    or_(RewardProgram.max_rewards.is_(None), RewardProgram.rewards_issued < RewardProgram.max_rewards),
    or_(RewardProgram.kind != "flash", RewardProgram.rewards_issued < RewardProgram.threshold),
    ~exists().where(Reward.dedupe_key == bindparam("dedupe_key")),
).values(rewards_issued=RewardProgram.rewards_issued + 1).returning(
    RewardProgram.id, RewardProgram.rewards_issued, RewardProgram.title).cte("taken")
_granted = pg_insert(Reward).from_select(
    ["code", "dedupe_key", "program_id", "venue_id", "account_id", "checkin_id", "title", "earned_at"],
    select(bindparam("code", type_=Reward.code.type), bindparam("dedupe_key", type_=Reward.dedupe_key.type),
           _taken.c.id, _VENUE, _ACCOUNT, bindparam("checkin_id", type_=Reward.checkin_id.type),
           _taken.c.title, _NOW),
).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(
    Reward.id, Reward.code, Reward.program_id, Reward.venue_id, Reward.account_id, Reward.title,
    Reward.status, Reward.earned_at, Reward.redeemed_at,
).cte("granted")
_reward_event = enqueue_insert("reward.earned", select(
    _granted.c.account_id.label("recipient_id"), literal("Reward earned").label("title"),
    (literal("You earned “") + _granted.c.title + literal("” at ") + _VENUE_NAME + literal(".")
     ).label("body"),
    func.jsonb_build_object("code", _granted.c.code, "program_id", _granted.c.program_id.cast(String),
                            "venue_id", _granted.c.venue_id.cast(String),
                            "title", _granted.c.title).label("payload"),
    (literal("reward.earned:") + _granted.c.id.cast(String)).label("event_key"),
).select_from(_granted)).cte("reward_event")
_GRANT = select(
    func.coalesce(_taken.c.rewards_issued, RewardProgram.rewards_issued).label("issued"),
    _taken.c.id.is_not(None).label("taken"), _granted,
).select_from(
    RewardProgram.__table__.outerjoin(_taken, true()).outerjoin(_granted, true())
).where(RewardProgram.id == _PROGRAM).add_cte(_reward_event)
_UNTAKE = update(RewardProgram).where(RewardProgram.id == _PROGRAM).values(
    rewards_issued=RewardProgram.rewards_issued - 1)
_GIVEN = select(Reward.dedupe_key).where(
    Reward.dedupe_key == func.any(bindparam("keys", type_=ARRAY(Reward.dedupe_key.type))))


class Evaluation:
    """What one check-in does to the venue's programs, collected as it happens.

    Each program arrives as its row of `_STANDING`: the account's own figures before this
    check-in, which nothing else can change while the account's lock is held.
    """

    def __init__(self, session: Session, checkin, venue, now: datetime, first_day):
        self.session, self.checkin, self.venue, self.now = session, checkin, venue, now
        self.db = session.connection()
        self.account_id = checkin.account_id
        self.new = 1 if checkin.counted else 0  # this check-in's own share of each count
        self.params = {"venue": venue.id, "account_id": self.account_id, "now": now,
                       "local_day": checkin.local_day, "first_day": first_day}
        self.earned: list = []
        self.progress: list[dict] = []

    def issue(self, program, account_id: uuid.UUID, key: str):
        """Take one of the program's rewards and give it once; returns (reward or None, issued)."""
        # Only these names: a parameter named like a reward_programs column would become a SET.
        row = self.db.execute(_GRANT, {
            "program_id": program.id, "venue": self.venue.id, "account_id": account_id,
            "checkin_id": self.checkin.id, "now": self.now, "code": new_code(),
            "dedupe_key": f"{program.id}:{key}", "venue_name": self.venue.name,
        }).one()
        if row.taken and row.id is None:  # the key appeared after all: give the count back
            self.db.execute(_UNTAKE, {"program_id": program.id})
        if row.id is None:
            return None, row.issued
        if account_id == self.account_id:
            self.earned.append(row)
        return row, row.issued

    def record(self, program, progress: rules.Progress) -> None:
        self.progress.append({
            "program_id": program.id, "kind": program.kind, "title": program.title,
            "current": progress.current, "target": progress.target,
            "remaining": max(progress.target - progress.current, 0), "achieved": progress.achieved,
        })

    def every_nth(self, program) -> None:
        count = program.counted_since_start + self.new
        earned, progress = rules.every_nth(count, program.threshold)
        if earned and self.checkin.counted:
            self.issue(program, self.account_id, f"{self.account_id}:{count}")
        self.record(program, progress)

    def first_visit(self, program) -> None:
        count = program.counted_ever + self.new
        earned, progress = rules.first_visit(count, self.checkin.counted)
        if earned:
            self.issue(program, self.account_id, str(self.account_id))
        self.record(program, progress)

    def frequency(self, program) -> None:
        window_start = self.now - timedelta(days=program.window_days)
        last_reward = program.last_reward_at
        count = program.counted_in_window + self.new
        rewarded_in_window = last_reward is not None and last_reward > window_start
        earned, progress = rules.frequency(count, program.threshold, rewarded_in_window)
        if earned and self.checkin.counted:
            self.issue(program, self.account_id, f"{self.account_id}:{self.checkin.id}")
        self.record(program, progress)

    def mayor(self, program) -> None:
        days = program.mayor_days + self.new
        incumbent, incumbent_days, rival_days = program.mayor_id, program.incumbent_days, 0
        if self.checkin.counted and _may_take_mayorship(program, self.account_id):  # locked: re-read
            incumbent, incumbent_days, rival_days = self.db.execute(
                _MAYORSHIP, {**self.params, "program_id": program.id}).one()
        is_incumbent = incumbent == self.account_id
        if incumbent is None:
            incumbent_days = None
        elif is_incumbent:
            incumbent_days = days
        if self.checkin.counted and rules.becomes_mayor(days, incumbent_days, is_incumbent, rival_days):
            self.db.execute(_SET_MAYOR, {"program_id": program.id, "account_id": self.account_id})
            self.issue(program, self.account_id, f"mayor:{self.account_id}:{self.checkin.local_day}")
            if incumbent is not None:
                enqueue(self.session, kind="mayor.lost", recipients=[incumbent],
                        title="You lost the mayorship",
                        body=f"Someone visited {self.venue.name} more often; come back to win it back.",
                        payload={"program_id": str(program.id), "venue_id": str(self.venue.id)},
                        dedupe_key=f"mayor.lost:{program.id}:{self.checkin.id}")
            is_incumbent, incumbent_days = True, days
        self.record(program, rules.mayor_progress(days, incumbent_days, is_incumbent))

    def swarm(self, program) -> None:
        if not self.checkin.counted:
            self.record(program, rules.swarm(program.swarm_members, program.threshold)[1])
            return
        window_start = max(self.now - timedelta(minutes=program.window_minutes), program.starts_at)
        members = self.db.execute(
            _SWARM_MEMBERS, {**self.params, "window_start": window_start}).all()
        earned, progress = rules.swarm(len(members), program.threshold)
        if earned:  # everyone in the window earns; only those not yet paid cost a statement
            keys = {f"{member}:{day}": member for member, day in members}
            given = set(self.db.execute(
                _GIVEN, {"keys": [f"{program.id}:{key}" for key in keys]}).scalars())
            for key, member in keys.items():
                if f"{program.id}:{key}" not in given:
                    self.issue(program, member, key)
        self.record(program, progress)

    def flash(self, program) -> None:
        has_reward, issued = program.last_reward_at is not None, program.rewards_issued
        if self.checkin.counted and not has_reward:
            reward, issued = self.issue(program, self.account_id, str(self.account_id))
            has_reward = reward is not None
        self.record(program, rules.flash_progress(issued, program.threshold, has_reward))


def _may_take_mayorship(standing, account_id: uuid.UUID) -> bool:
    """Whether the account's counted check-in could make it mayor (only then is the program locked).

    `standing` was read before any program lock. Since then the incumbent can only have gained
    days, and a new mayor has more days than the one it replaced, so an account that cannot
    overtake now could not under the lock either: skipping the lock gives the outcome of being
    evaluated just before whatever changed.
    """
    if standing.mayor_id is None:
        return True  # compared with the best rival, under the lock
    return standing.mayor_id != account_id and standing.mayor_days + 1 > standing.incumbent_days


def _needs_lock(standing, account_id: uuid.UUID) -> bool:
    """Swarms and contestable mayorships depend on other accounts' check-ins at the venue."""
    return standing.kind == "swarm" or (
        standing.kind == "mayor" and _may_take_mayorship(standing, account_id))




def check_in(
    *, session: Session, venue_id: uuid.UUID, account: Account, lat: float, lon: float,
    accuracy_m: float | None, is_mock: bool, message: str | None, now: datetime,
) -> tuple[Row, list[Row], list[dict]]:
    """Record a check-in, decide whether it counts, and run the venue's reward programs."""
    # Core execution in the session's transaction: the ORM's per-statement work buys nothing here.
    db = session.connection()
    where = {"venue": venue_id, "account_id": account.id, "lat": lat, "lon": lon, "now": now}
    venue = db.execute(
        _VENUE_AND_LOCK, {**where, "lock": _account_lock_id(account.id)}).one_or_none()
    if venue is None:
        raise NotFound("No such venue.")
    local_day = now.astimezone(ZoneInfo(venue.timezone)).date()
    first_day = local_day - timedelta(days=rules.MAYOR_WINDOW_DAYS - 1)
    standing = db.execute(
        _STANDING, {**where, "local_day": local_day, "first_day": first_day}).all()
    mine = standing[0]
    programs = [row for row in standing if row.id is not None]
    previous = mine.previous_at
    reasons = failed_rules(
        distance_m=venue.distance, radius_m=venue.checkin_radius_m, accuracy_m=accuracy_m,
        is_mock=is_mock, counted_today=mine.counted_today,
        previous=PreviousCheckin(mine.previous_distance, (now - previous).total_seconds())
        if previous is not None else None,
    )
    values = dict(account_id=account.id, venue_id=venue.id, location=to_ewkt(lat, lon),
                  accuracy_m=accuracy_m, is_mock=is_mock, message=message,
                  distance_m=venue.distance, local_day=local_day, created_at=now,
                  merchant_id=venue.merchant_id, venue_name=venue.name)
    checkin = None
    if not reasons:
        locks = sorted(p.id for p in programs if _needs_lock(p, account.id))
        checkin = db.execute(
            _INSERT_COUNTED, {**values, "counted": True, "reasons": [], "locks": locks}
        ).one_or_none()
    if checkin is None:  # refused, or lost a race the lock should prevent; the index decides
        reasons = reasons or ["already-counted-today"]
        checkin = db.execute(
            _INSERT_REFUSED, {**values, "counted": False, "reasons": reasons}).one()
    evaluation = Evaluation(session, checkin, venue, now, first_day)
    for program in programs:
        getattr(evaluation, program.kind)(program)
    return checkin, evaluation.earned, evaluation.progress


def my_checkins(*, session: Session, account: Account, limit: int, after=None) -> list[Checkin]:
    """The account's check-ins, newest first."""
    query = select(Checkin).where(Checkin.account_id == account.id).limit(limit)
    return list(session.scalars(newest_first(query, Checkin.created_at, Checkin.id, after)))


def create_program(*, session: Session, venue_id: uuid.UUID, merchant: Account, now: datetime,
                   cap: int, **settings) -> RewardProgram:
    """Create a reward program at one of the merchant's venues.

    At most `cap` live (not yet ended) programs per venue, else 409 `limit-reached`: every
    check-in evaluates all of the venue's running programs, so this bounds a check-in's work.
    """
    venue = get_owned_venue(session=session, venue_id=venue_id, merchant=merchant)
    missing = rules.missing_settings(settings["kind"], settings)
    if missing:
        raise ValidationFailed({name: [f"Required for {settings['kind']} programs."] for name in missing})
    settings["starts_at"] = settings.get("starts_at") or now
    if settings.get("ends_at") is not None and settings["ends_at"] <= settings["starts_at"]:
        raise ValidationFailed({"ends_at": ["Must be after starts_at."]})
    live = select(RewardProgram.id).where(
        RewardProgram.venue_id == venue.id,
        or_(RewardProgram.ends_at.is_(None), RewardProgram.ends_at > now))
    claim_slot(session, owner=Venue, owner_id=venue.id, owned=live, cap=cap,
               what="live reward programs per venue (ended ones do not count)")
    program = RewardProgram(venue_id=venue.id, **settings)
    session.add(program)
    session.flush()
    session.refresh(program)
    return program


def venue_programs(*, session: Session, venue_id: uuid.UUID, limit: int,
                   after=None) -> list[RewardProgram]:
    """A venue's programs, ended ones included, newest first (404 if there is no such venue)."""
    if session.get(Venue, venue_id) is None:
        raise NotFound("No such venue.")
    query = select(RewardProgram).where(RewardProgram.venue_id == venue_id).limit(limit)
    return list(session.scalars(
        newest_first(query, RewardProgram.created_at, RewardProgram.id, after)))


def my_rewards(*, session: Session, account: Account, limit: int, after=None) -> list[Reward]:
    """The account's rewards, newest first."""
    query = select(Reward).where(Reward.account_id == account.id).limit(limit)
    return list(session.scalars(newest_first(query, Reward.earned_at, Reward.id, after)))


def redeem_reward(*, session: Session, code: str, merchant: Account, now: datetime) -> Reward:
    """Redeem a reward earned at one of the merchant's venues, once; 404 for anyone else's."""
    canonical = normalise_code(code)
    owned = exists().where(and_(Venue.id == Reward.venue_id, Venue.merchant_id == merchant.id))
    reward = session.scalars(
        select(Reward).where(Reward.code == canonical, owned).with_for_update()
    ).one_or_none() if canonical else None
    if reward is None:
        raise NotFound("No such reward.")
    refuse_redemption(status=reward.status, valid_until=None, now=now)
    reward.status, reward.redeemed_at = "redeemed", now
    session.flush()
    return reward
