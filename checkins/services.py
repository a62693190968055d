"""Check-in verbs: check in (verify, count, evaluate programs), programs, rewards, redemption.

The verbs come first, then how a check-in evaluates each kind of program; the SQL is in
`checkins.statements`.
"""

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Row, and_, distinct, exists, func, or_, select
from sqlalchemy.orm import Session

from accounts.models import Account
from checkins import rewards as rules
from checkins import statements
from checkins.models import Checkin, ProgramKind, Reward, RewardProgram, RewardStatus
from checkins.verification import PreviousCheckin, failed_rules
from core.codes import new_code, normalise_code, refuse_redemption
from core.db import newest_first
from core.errors import NotFound, ValidationFailed
from core.limits import claim_slot
from geo.points import to_ewkt
from notifications.services import enqueue
from social.models import Audience
from venues.models import Venue
from venues.services import get_owned_venue


def check_in(
    *,
    session: Session,
    venue_id: uuid.UUID,
    account: Account,
    lat: float,
    lon: float,
    accuracy_m: float | None,
    is_mock: bool,
    message: str | None,
    now: datetime,
    share: str = Audience.PRIVATE,
    friend_notices_per_day: int = 0,
) -> tuple[Row, list[Row], list[dict]]:
    """Record a check-in, decide whether it counts, and run the venue's reward programs.

    A counted check-in shared with friends tells each of them (`friend.checked_in`), at most
    `friend_notices_per_day` times a UTC day per friend.
    """
    # Core execution in the session's transaction: the ORM's per-statement work buys nothing here.
    db = session.connection()
    where = {"venue": venue_id, "account_id": account.id, "lat": lat, "lon": lon, "now": now}
    venue = db.execute(
        statements.LOCK_ACCOUNT_AND_FIND_VENUE,
        {**where, "lock": statements.account_lock_id(account.id)},
    ).one_or_none()
    if venue is None:
        raise NotFound("No such venue.")
    local_day = now.astimezone(ZoneInfo(venue.timezone)).date()
    first_day = local_day - timedelta(days=rules.MAYOR_WINDOW_DAYS - 1)
    standing = db.execute(
        statements.STANDING_IN_RUNNING_PROGRAMS,
        {**where, "local_day": local_day, "first_day": first_day},
    ).all()
    mine = standing[0]
    programs = [row for row in standing if row.id is not None]
    previous = mine.previous_at
    reasons = failed_rules(
        distance_m=venue.distance,
        radius_m=venue.checkin_radius_m,
        accuracy_m=accuracy_m,
        is_mock=is_mock,
        counted_today=mine.counted_today,
        previous=PreviousCheckin(mine.previous_distance, (now - previous).total_seconds())
        if previous is not None
        else None,
    )
    values = dict(
        account_id=account.id,
        venue_id=venue.id,
        location=to_ewkt(lat, lon),
        accuracy_m=accuracy_m,
        is_mock=is_mock,
        message=message,
        distance_m=venue.distance,
        local_day=local_day,
        created_at=now,
        share=share,
        merchant_id=venue.merchant_id,
        venue_name=venue.name,
    )
    checkin = None
    if not reasons:
        locks = sorted(p.id for p in programs if _needs_lock(p, account.id))
        checkin = db.execute(
            statements.INSERT_COUNTED_CHECKIN_AND_LOCK_PROGRAMS,
            {**values, "counted": True, "reasons": [], "locks": locks},
        ).one_or_none()
    if checkin is None:  # refused, or lost a race the lock should prevent; the index decides
        reasons = reasons or ["already-counted-today"]
        checkin = db.execute(
            statements.INSERT_REFUSED_CHECKIN, {**values, "counted": False, "reasons": reasons}
        ).one()
    if checkin.counted and checkin.share == Audience.FRIENDS and friend_notices_per_day > 0:
        db.execute(
            statements.TELL_FRIENDS_OF_CHECKIN,
            {
                "account_id": account.id,
                "venue": venue.id,
                "venue_name": venue.name,
                "checkin_id": checkin.id,
                "notice_day": now.date(),
                "notice_cap": friend_notices_per_day,
            },
        )
    evaluation = Evaluation(session, checkin, venue, now, first_day)
    for program in programs:
        PROGRAM_EVALUATORS[program.kind](evaluation, program)
    return checkin, evaluation.earned, evaluation.progress


def my_checkins(*, session: Session, account: Account, limit: int, after=None) -> list[Checkin]:
    """The account's check-ins, newest first."""
    query = select(Checkin).where(Checkin.account_id == account.id).limit(limit)
    return list(session.scalars(newest_first(query, Checkin.created_at, Checkin.id, after)))


def checkins_per_day(
    *, session: Session, venue_id: uuid.UUID, merchant: Account, days: int, now: datetime
) -> list[dict]:
    """Counted check-ins and distinct visitors per venue-local day at one of the merchant's
    venues, over the last `days` days up to today (days without any included), oldest first."""
    venue = get_owned_venue(session=session, venue_id=venue_id, merchant=merchant)
    today = now.astimezone(ZoneInfo(venue.timezone)).date()
    first = today - timedelta(days=days - 1)
    # Served by ix_checkins_venue_day (venue, local_day, account) WHERE counted: index only.
    rows = session.execute(
        select(
            Checkin.local_day,
            func.count().label("checkins"),
            func.count(distinct(Checkin.account_id)).label("visitors"),
        )
        .where(Checkin.venue_id == venue.id, Checkin.counted, Checkin.local_day >= first)
        .group_by(Checkin.local_day)
    )
    counted = {row.local_day: (row.checkins, row.visitors) for row in rows}
    per_day = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        checkins, visitors = counted.get(day, (0, 0))
        per_day.append({"day": day, "checkins": checkins, "visitors": visitors})
    return per_day


def create_program(
    *, session: Session, venue_id: uuid.UUID, merchant: Account, now: datetime, cap: int, **settings
) -> RewardProgram:
    """Create a reward program at one of the merchant's venues.

    At most `cap` live (not yet ended) programs per venue, else 409 `limit-reached`: every
    check-in evaluates all of the venue's running programs, so this bounds a check-in's work.
    """
    venue = get_owned_venue(session=session, venue_id=venue_id, merchant=merchant)
    missing = rules.missing_settings(settings["kind"], settings)
    if missing:
        raise ValidationFailed(
            {name: [f"Required for {settings['kind']} programs."] for name in missing}
        )
    settings["starts_at"] = settings.get("starts_at") or now
    if settings.get("ends_at") is not None and settings["ends_at"] <= settings["starts_at"]:
        raise ValidationFailed({"ends_at": ["Must be after starts_at."]})
    live = select(RewardProgram.id).where(
        RewardProgram.venue_id == venue.id,
        or_(RewardProgram.ends_at.is_(None), RewardProgram.ends_at > now),
    )
    claim_slot(
        session,
        owner=Venue,
        owner_id=venue.id,
        owned=live,
        cap=cap,
        what="live reward programs per venue (ended ones do not count)",
    )
    program = RewardProgram(venue_id=venue.id, **settings)
    session.add(program)
    session.flush()
    session.refresh(program)
    return program


def venue_programs(
    *, session: Session, venue_id: uuid.UUID, limit: int, after=None
) -> list[RewardProgram]:
    """A venue's programs, ended ones included, newest first (404 if there is no such venue)."""
    if session.get(Venue, venue_id) is None:
        raise NotFound("No such venue.")
    query = select(RewardProgram).where(RewardProgram.venue_id == venue_id).limit(limit)
    return list(
        session.scalars(newest_first(query, RewardProgram.created_at, RewardProgram.id, after))
    )


def my_rewards(*, session: Session, account: Account, limit: int, after=None) -> list[Reward]:
    """The account's rewards, newest first."""
    query = select(Reward).where(Reward.account_id == account.id).limit(limit)
    return list(session.scalars(newest_first(query, Reward.earned_at, Reward.id, after)))


def redeem_reward(*, session: Session, code: str, merchant: Account, now: datetime) -> Reward:
    """Redeem a reward earned at one of the merchant's venues, once; 404 for anyone else's."""
    canonical = normalise_code(code)
    owned = exists().where(and_(Venue.id == Reward.venue_id, Venue.merchant_id == merchant.id))
    reward = (
        session.scalars(
            select(Reward).where(Reward.code == canonical, owned).with_for_update()
        ).one_or_none()
        if canonical
        else None
    )
    if reward is None:
        raise NotFound("No such reward.")
    refuse_redemption(status=reward.status, valid_until=None, now=now)
    reward.status, reward.redeemed_at = RewardStatus.REDEEMED, now
    session.flush()
    return reward


class Evaluation:
    """What one check-in does to the venue's programs, collected as it happens.

    Each program arrives as its row of `statements.STANDING_IN_RUNNING_PROGRAMS`: the account's
    own figures before this check-in, which nothing else can change while the account's lock is
    held. `PROGRAM_EVALUATORS` applies each program's kind to it.
    """

    def __init__(self, session: Session, checkin, venue, now: datetime, first_day):
        self.session, self.checkin, self.venue, self.now = session, checkin, venue, now
        self.db = session.connection()
        self.account_id = checkin.account_id
        self.new = 1 if checkin.counted else 0  # this check-in's own share of each count
        self.params = {
            "venue": venue.id,
            "account_id": self.account_id,
            "now": now,
            "local_day": checkin.local_day,
            "first_day": first_day,
        }
        self.earned: list = []
        self.progress: list[dict] = []

    def issue(self, program, account_id: uuid.UUID, key: str):
        """Take one of the program's rewards and give it once; returns (reward or None, issued)."""
        row = self.db.execute(
            statements.TAKE_AND_GRANT_ONE_REWARD,
            {
                "program_id": program.id,
                "venue": self.venue.id,
                "account_id": account_id,
                "checkin_id": self.checkin.id,
                "now": self.now,
                "code": new_code(),
                "dedupe_key": f"{program.id}:{key}",
                "venue_name": self.venue.name,
            },
        ).one()
        if row.taken and row.id is None:  # the key appeared after all: give the count back
            self.db.execute(statements.GIVE_BACK_TAKEN_REWARD, {"program_id": program.id})
        if row.id is None:
            return None, row.issued
        if account_id == self.account_id:
            self.earned.append(row)
        return row, row.issued

    def record(self, program, progress: rules.Progress) -> None:
        self.progress.append(
            {
                "program_id": program.id,
                "kind": program.kind,
                "title": program.title,
                "current": progress.current,
                "target": progress.target,
                "remaining": max(progress.target - progress.current, 0),
                "achieved": progress.achieved,
            }
        )


def _every_nth(evaluation: Evaluation, program: Row) -> None:
    """A punch card: every `threshold`-th counted check-in since the program started earns."""
    account_id = evaluation.account_id
    count = program.counted_since_start + evaluation.new
    earned, progress = rules.every_nth(count, program.threshold)
    if earned and evaluation.checkin.counted:
        evaluation.issue(program, account_id, f"{account_id}:{count}")
    evaluation.record(program, progress)


def _first_visit(evaluation: Evaluation, program: Row) -> None:
    """The account's first counted check-in at the venue earns."""
    count = program.counted_ever + evaluation.new
    earned, progress = rules.first_visit(count, evaluation.checkin.counted)
    if earned:
        evaluation.issue(program, evaluation.account_id, str(evaluation.account_id))
    evaluation.record(program, progress)


def _frequency(evaluation: Evaluation, program: Row) -> None:
    """`threshold` counted check-ins within `window_days` earn, once per window."""
    account_id, checkin = evaluation.account_id, evaluation.checkin
    window_start = evaluation.now - timedelta(days=program.window_days)
    last_reward = program.last_reward_at
    count = program.counted_in_window + evaluation.new
    rewarded_in_window = last_reward is not None and last_reward > window_start
    earned, progress = rules.frequency(count, program.threshold, rewarded_in_window)
    if earned and checkin.counted:
        evaluation.issue(program, account_id, f"{account_id}:{checkin.id}")
    evaluation.record(program, progress)


def _mayor(evaluation: Evaluation, program: Row) -> None:
    """Most distinct counted days in the mayor window takes the mayorship (and a reward)."""
    account_id, checkin, db = evaluation.account_id, evaluation.checkin, evaluation.db
    days = program.mayor_days + evaluation.new
    incumbent, incumbent_days, rival_days = program.mayor_id, program.incumbent_days, 0
    if checkin.counted and _may_take_mayorship(program, account_id):  # locked: re-read
        incumbent, incumbent_days, rival_days = db.execute(
            statements.MAYOR_AND_RIVAL_DAYS, {**evaluation.params, "program_id": program.id}
        ).one()
    is_incumbent = incumbent == account_id
    if incumbent is None:
        incumbent_days = None
    elif is_incumbent:
        incumbent_days = days
    if checkin.counted and rules.becomes_mayor(days, incumbent_days, is_incumbent, rival_days):
        db.execute(
            statements.MAKE_ACCOUNT_MAYOR, {"program_id": program.id, "account_id": account_id}
        )
        evaluation.issue(program, account_id, f"mayor:{account_id}:{checkin.local_day}")
        if incumbent is not None:
            venue = evaluation.venue
            enqueue(
                evaluation.session,
                kind="mayor.lost",
                recipients=[incumbent],
                title="You lost the mayorship",
                body=f"Someone visited {venue.name} more often; come back to win it back.",
                payload={"program_id": str(program.id), "venue_id": str(venue.id)},
                dedupe_key=f"mayor.lost:{program.id}:{checkin.id}",
            )
        is_incumbent, incumbent_days = True, days
    evaluation.record(program, rules.mayor_progress(days, incumbent_days, is_incumbent))


def _swarm(evaluation: Evaluation, program: Row) -> None:
    """`threshold` distinct accounts within `window_minutes`: every one of them earns."""
    _group_in_window(evaluation, program, statements.SWARM_MEMBERS_IN_WINDOW)


def _friends(evaluation: Evaluation, program: Row) -> None:
    """The account and at least `threshold - 1` of its friends within `window_minutes` (the
    friends special): every one of them earns."""
    _group_in_window(evaluation, program, statements.FRIENDS_MEMBERS_IN_WINDOW)


def _group_in_window(evaluation: Evaluation, program: Row, members_in_window) -> None:
    """A group of `threshold` distinct accounts (`members_in_window` selects them, under the
    program lock) counted within `window_minutes`: each member earns, once a venue-local day."""
    if not evaluation.checkin.counted:
        evaluation.record(program, rules.swarm(program.window_members, program.threshold)[1])
        return
    window_start = max(
        evaluation.now - timedelta(minutes=program.window_minutes), program.starts_at
    )
    members = evaluation.db.execute(
        members_in_window, {**evaluation.params, "window_start": window_start}
    ).all()
    earned, progress = rules.swarm(len(members), program.threshold)
    if earned:  # everyone in the window earns; only those not yet paid cost a statement
        keys = {
            f"{member.account_id}:{member.last_counted_day}": member.account_id
            for member in members
        }
        given = set(
            evaluation.db.execute(
                statements.REWARDS_ALREADY_GIVEN, {"keys": [f"{program.id}:{key}" for key in keys]}
            ).scalars()
        )
        for key, member in keys.items():
            if f"{program.id}:{key}" not in given:
                evaluation.issue(program, member, key)
    evaluation.record(program, progress)


def _flash(evaluation: Evaluation, program: Row) -> None:
    """The first `threshold` accounts to check in earn, one reward each."""
    account_id = evaluation.account_id
    has_reward, issued = program.last_reward_at is not None, program.rewards_issued
    if evaluation.checkin.counted and not has_reward:
        reward, issued = evaluation.issue(program, account_id, str(account_id))
        has_reward = reward is not None
    evaluation.record(program, rules.flash_progress(issued, program.threshold, has_reward))


# Program kind -> its evaluator; tests/unit/test_program_evaluators.py holds this to exactly
# the kinds the schema and the database accept.
PROGRAM_EVALUATORS: dict[ProgramKind, Callable[[Evaluation, Row], None]] = {
    ProgramKind.EVERY_NTH: _every_nth,
    ProgramKind.FIRST_VISIT: _first_visit,
    ProgramKind.FREQUENCY: _frequency,
    ProgramKind.MAYOR: _mayor,
    ProgramKind.SWARM: _swarm,
    ProgramKind.FLASH: _flash,
    ProgramKind.FRIENDS: _friends,
}


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
    """Swarms, friends specials and contestable mayorships depend on other accounts' check-ins
    at the venue."""
    return standing.kind in (ProgramKind.SWARM, ProgramKind.FRIENDS) or (
        standing.kind == ProgramKind.MAYOR and _may_take_mayorship(standing, account_id)
    )
