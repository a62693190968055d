"""Check-in verbs: check in (verify, count, evaluate programs), programs, rewards, redemption."""
import hashlib
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, distinct, exists, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from accounts.models import Account
from checkins import rewards as rules
from checkins.models import Checkin, Reward, RewardProgram
from checkins.verification import PreviousCheckin, failed_rules
from core.codes import new_code, normalise_code, refuse_redemption
from core.db import newest_first
from core.errors import NotFound, ValidationFailed
from geo.points import to_ewkt
from geo.postgis import distance_m, point
from notifications.services import enqueue
from venues.models import Venue
from venues.services import get_owned_venue


CONCURRENT_CLOCK_SLACK = timedelta(minutes=1)


def _account_lock_id(account_id: uuid.UUID) -> int:
    digest = hashlib.sha256(b"checkin:" + account_id.bytes).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Evaluation:
    """What one counted check-in does to the venue's programs, collected as it happens."""

    def __init__(self, session: Session, checkin: Checkin, venue: Venue, now: datetime):
        self.session, self.checkin, self.venue, self.now = session, checkin, venue, now
        self.account_id = checkin.account_id
        self.earned: list[Reward] = []
        self.progress: list[dict] = []

    def counted_since(self, since: datetime, after: datetime | None = None) -> int:
        """The account's counted check-ins here from `since` (and strictly after `after`) to now."""
        query = select(func.count()).where(
            Checkin.account_id == self.account_id, Checkin.venue_id == self.venue.id,
            Checkin.counted, Checkin.created_at >= since, Checkin.created_at <= self.now,
        )
        if after is not None:
            query = query.where(Checkin.created_at > after)
        return self.session.scalar(query)

    def lock(self, program: RewardProgram) -> RewardProgram:
        """Serialise evaluations of programs that depend on other accounts' check-ins."""
        return self.session.scalars(
            select(RewardProgram).where(RewardProgram.id == program.id)
            .with_for_update().execution_options(populate_existing=True)
        ).one()

    def last_reward_at(self, program: RewardProgram) -> datetime | None:
        """When the account last earned this program's reward."""
        return self.session.scalar(select(func.max(Reward.earned_at)).where(
            Reward.program_id == program.id, Reward.account_id == self.account_id))

    def issue(self, program: RewardProgram, account_id: uuid.UUID, key: str) -> Reward | None:
        """Take one of the program's rewards (max_rewards / flash threshold hold) and give it once."""
        taken = self.session.execute(
            update(RewardProgram)
            .where(RewardProgram.id == program.id,
                   (RewardProgram.max_rewards.is_(None))
                   | (RewardProgram.rewards_issued < RewardProgram.max_rewards),
                   (RewardProgram.kind != "flash")
                   | (RewardProgram.rewards_issued < RewardProgram.threshold))
            .values(rewards_issued=RewardProgram.rewards_issued + 1)
            .returning(RewardProgram.rewards_issued)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if taken is None:
            return None
        reward_id = self.session.execute(
            pg_insert(Reward).values(
                code=new_code(), dedupe_key=f"{program.id}:{key}", program_id=program.id,
                venue_id=self.venue.id, account_id=account_id, checkin_id=self.checkin.id,
                title=program.title, earned_at=self.now,
            ).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(Reward.id)
        ).scalar_one_or_none()
        if reward_id is None:
            self.session.execute(
                update(RewardProgram).where(RewardProgram.id == program.id)
                .values(rewards_issued=RewardProgram.rewards_issued - 1)
                .execution_options(synchronize_session=False)
            )
            return None
        reward = self.session.get(Reward, reward_id)
        enqueue(self.session, kind="reward.earned", recipients=[account_id],
                title="Reward earned", body=f"You earned “{program.title}” at {self.venue.name}.",
                payload={"code": reward.code, "program_id": str(program.id),
                         "venue_id": str(self.venue.id), "title": program.title},
                dedupe_key=f"reward.earned:{reward.id}")
        if account_id == self.account_id:
            self.earned.append(reward)
        return reward

    def record(self, program: RewardProgram, progress: rules.Progress) -> None:
        self.progress.append({
            "program_id": program.id, "kind": program.kind, "title": program.title,
            "current": progress.current, "target": progress.target,
            "remaining": max(progress.target - progress.current, 0), "achieved": progress.achieved,
        })

    def every_nth(self, program: RewardProgram) -> None:
        count = self.counted_since(program.starts_at)
        earned, progress = rules.every_nth(count, program.threshold)
        if earned and self.checkin.counted:
            self.issue(program, self.account_id, f"{self.account_id}:{count}")
        self.record(program, progress)

    def first_visit(self, program: RewardProgram) -> None:
        count = self.counted_since(datetime.min.replace(tzinfo=self.now.tzinfo))
        earned, progress = rules.first_visit(count, self.checkin.counted)
        if earned and self.checkin.created_at >= program.starts_at:
            self.issue(program, self.account_id, str(self.account_id))
        self.record(program, progress)

    def frequency(self, program: RewardProgram) -> None:
        window_start = self.now - timedelta(days=program.window_days)
        last_reward = self.last_reward_at(program)
        count = self.counted_since(max(window_start, program.starts_at), after=last_reward)
        rewarded_in_window = last_reward is not None and last_reward > window_start
        earned, progress = rules.frequency(count, program.threshold, rewarded_in_window)
        if earned and self.checkin.counted:
            self.issue(program, self.account_id, f"{self.account_id}:{self.checkin.id}")
        self.record(program, progress)

    def mayor_days(self, account_id: uuid.UUID) -> int:
        first_day = self.checkin.local_day - timedelta(days=rules.MAYOR_WINDOW_DAYS - 1)
        return self.session.scalar(select(func.count(distinct(Checkin.local_day))).where(
            Checkin.account_id == account_id, Checkin.venue_id == self.venue.id, Checkin.counted,
            Checkin.local_day >= first_day, Checkin.local_day <= self.checkin.local_day,
        ))

    def best_rival_days(self) -> int:
        """The most distinct counted days any other account has here in the mayor window."""
        first_day = self.checkin.local_day - timedelta(days=rules.MAYOR_WINDOW_DAYS - 1)
        per_account = select(func.count(distinct(Checkin.local_day)).label("days")).where(
            Checkin.venue_id == self.venue.id, Checkin.counted, Checkin.account_id != self.account_id,
            Checkin.local_day >= first_day, Checkin.local_day <= self.checkin.local_day,
        ).group_by(Checkin.account_id).subquery()
        return self.session.scalar(select(func.coalesce(func.max(per_account.c.days), 0)))

    def mayor(self, program: RewardProgram) -> None:
        program = self.lock(program)
        days = self.mayor_days(self.account_id)
        incumbent = program.mayor_id
        incumbent_days = self.mayor_days(incumbent) if incumbent else None
        is_incumbent = incumbent == self.account_id
        rival_days = self.best_rival_days() if incumbent is None and self.checkin.counted else 0
        if self.checkin.counted and rules.becomes_mayor(days, incumbent_days, is_incumbent, rival_days):
            program.mayor_id = self.account_id
            self.session.flush()
            self.issue(program, self.account_id, f"mayor:{self.account_id}:{self.checkin.local_day}")
            if incumbent is not None:
                enqueue(self.session, kind="mayor.lost", recipients=[incumbent],
                        title="You lost the mayorship",
                        body=f"Someone visited {self.venue.name} more often; come back to win it back.",
                        payload={"program_id": str(program.id), "venue_id": str(self.venue.id)},
                        dedupe_key=f"mayor.lost:{program.id}:{self.checkin.id}")
            is_incumbent, incumbent_days = True, days
        self.record(program, rules.mayor_progress(days, incumbent_days, is_incumbent))

    def swarm(self, program: RewardProgram) -> None:
        program = self.lock(program)
        window_start = max(self.now - timedelta(minutes=program.window_minutes), program.starts_at)
        # Each member with the local day of their own visit in the window: a swarm that spans
        # midnight must not pay last night's members a second time for the same visit.
        # Concurrent check-ins take `now` before queueing for this lock, so one that committed
        # ahead of us may carry a slightly later `now`: it belongs to the swarm all the same.
        members = self.session.execute(
            select(Checkin.account_id, func.max(Checkin.local_day)).where(
                Checkin.venue_id == self.venue.id, Checkin.counted,
                Checkin.created_at >= window_start,
                Checkin.created_at <= self.now + CONCURRENT_CLOCK_SLACK,
            ).group_by(Checkin.account_id)
        ).all()
        earned, progress = rules.swarm(len(members), program.threshold)
        if earned and self.checkin.counted:
            for member, day in sorted(members):
                self.issue(program, member, f"{member}:{day}")
        self.record(program, progress)

    def flash(self, program: RewardProgram) -> None:
        has_reward = self.last_reward_at(program) is not None
        if self.checkin.counted and not has_reward:
            has_reward = self.issue(program, self.account_id, str(self.account_id)) is not None
        issued = self.session.scalar(
            select(RewardProgram.rewards_issued).where(RewardProgram.id == program.id))
        self.record(program, rules.flash_progress(issued, program.threshold, has_reward))


def _active_programs(session: Session, venue_id: uuid.UUID, now: datetime) -> list[RewardProgram]:
    return list(session.scalars(
        select(RewardProgram)
        .where(RewardProgram.venue_id == venue_id, RewardProgram.starts_at <= now,
               (RewardProgram.ends_at.is_(None)) | (RewardProgram.ends_at > now))
        .order_by(RewardProgram.created_at, RewardProgram.id)
    ))


def check_in(
    *, session: Session, venue_id: uuid.UUID, account: Account, lat: float, lon: float,
    accuracy_m: float | None, is_mock: bool, message: str | None, now: datetime,
) -> tuple[Checkin, list[Reward], list[dict]]:
    """Record a check-in, decide whether it counts, and run the venue's reward programs."""
    here = point(lat, lon)
    found = session.execute(
        select(Venue, distance_m(Venue.location, here)).where(Venue.id == venue_id)
    ).one_or_none()
    if found is None:
        raise NotFound("No such venue.")
    venue, distance = found
    # One account's check-ins are evaluated one at a time, so "previous" and rewards are exact.
    session.execute(select(func.pg_advisory_xact_lock(_account_lock_id(account.id))))
    local_day = now.astimezone(ZoneInfo(venue.timezone)).date()
    previous = session.execute(
        select(distance_m(Checkin.location, here), Checkin.created_at)
        .where(Checkin.account_id == account.id, Checkin.counted, Checkin.created_at <= now)
        .order_by(Checkin.created_at.desc()).limit(1)
    ).one_or_none()
    counted_today = session.scalar(select(exists().where(
        Checkin.account_id == account.id, Checkin.venue_id == venue.id,
        Checkin.local_day == local_day, Checkin.counted,
    )))
    reasons = failed_rules(
        distance_m=distance, radius_m=venue.checkin_radius_m, accuracy_m=accuracy_m,
        is_mock=is_mock, counted_today=counted_today,
        previous=PreviousCheckin(previous[0], (now - previous[1]).total_seconds()) if previous else None,
    )
    values = dict(account_id=account.id, venue_id=venue.id, location=to_ewkt(lat, lon),
                  accuracy_m=accuracy_m, is_mock=is_mock, message=message, distance_m=distance,
                  local_day=local_day, created_at=now)
    checkin_id = session.execute(
        pg_insert(Checkin).values(**values, counted=not reasons, reasons=reasons)
        .on_conflict_do_nothing(index_elements=["account_id", "venue_id", "local_day"],
                                index_where=text("counted"))
        .returning(Checkin.id)
    ).scalar_one_or_none()
    if checkin_id is None:  # lost a race the lock should prevent; the index still decides
        checkin_id = session.execute(
            pg_insert(Checkin).values(**values, counted=False, reasons=["already-counted-today"])
            .returning(Checkin.id)
        ).scalar_one()
    checkin = session.get(Checkin, checkin_id)
    evaluation = Evaluation(session, checkin, venue, now)
    for program in _active_programs(session, venue.id, now):
        getattr(evaluation, program.kind)(program)
    enqueue(session, kind="checkin.created", recipients=[venue.merchant_id],
            title="New check-in", body=f"Someone checked in at {venue.name}.",
            payload={"checkin_id": str(checkin.id), "venue_id": str(venue.id),
                     "counted": checkin.counted},
            dedupe_key=f"checkin.created:{checkin.id}")
    session.commit()
    return checkin, evaluation.earned, evaluation.progress


def my_checkins(*, session: Session, account: Account, limit: int, after=None) -> list[Checkin]:
    """The account's check-ins, newest first."""
    query = select(Checkin).where(Checkin.account_id == account.id).limit(limit)
    return list(session.scalars(newest_first(query, Checkin.created_at, Checkin.id, after)))


def create_program(*, session: Session, venue_id: uuid.UUID, merchant: Account, now: datetime,
                   **settings) -> RewardProgram:
    """Create a reward program at one of the merchant's venues."""
    venue = get_owned_venue(session=session, venue_id=venue_id, merchant=merchant)
    missing = rules.missing_settings(settings["kind"], settings)
    if missing:
        raise ValidationFailed({name: [f"Required for {settings['kind']} programs."] for name in missing})
    settings["starts_at"] = settings.get("starts_at") or now
    if settings.get("ends_at") is not None and settings["ends_at"] <= settings["starts_at"]:
        raise ValidationFailed({"ends_at": ["Must be after starts_at."]})
    program = RewardProgram(venue_id=venue.id, **settings)
    session.add(program)
    session.commit()
    session.refresh(program)
    return program


def venue_programs(*, session: Session, venue_id: uuid.UUID) -> list[RewardProgram]:
    """Every program of a venue (404 if the venue does not exist)."""
    if session.get(Venue, venue_id) is None:
        raise NotFound("No such venue.")
    return list(session.scalars(
        select(RewardProgram).where(RewardProgram.venue_id == venue_id)
        .order_by(RewardProgram.created_at, RewardProgram.id)
    ))


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
    session.commit()
    return reward
