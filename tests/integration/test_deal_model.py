"""Model-based test of the deal lifecycle.

A hypothesis state machine creates deals and, in random orders, commits (random customer, random
quantity), withdraws, cancels, lets time pass, runs the activate / close / expire sweeps and
redeems vouchers (also as a merchant who does not own the deal). Every step calls the services
and jobs directly with an injected `now`, in a fresh session, and then the whole database is
compared with a small in-memory model written from docs/API.md: each deal's status, committed_count
and tipped_at, each commitment's status, the per-account open quantities, every voucher, and
the outbox events (`deal.tipped` once per deal and recipient, `deal.closed` / `deal.failed` /
`deal.cancelled`, `commitment.created`, `voucher.redeemed`).

Time moves forward by at least a second on every step, as it does between real requests.
"""

import os
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text

from accounts.models import Account
from accounts.passwords import PasswordHashing
from accounts.services import register
from core.db import in_unit_of_work, unit_of_work
from core.errors import DomainError
from deals import jobs, services
from models import metadata
from venues.services import create_venue

FAST_HASHING = PasswordHashing(fast=True, concurrency=1, wait_seconds=10)

T0 = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
CUSTOMERS = 3
MAX_DEALS = 3  # few deals, many steps each: hypothesis favours the newest bundle entry
OPEN = ("pending", "confirmed")
COMMITTABLE = ("scheduled", "active", "tipped")


@dataclass
class ModelDeal:
    id: uuid.UUID
    min_commitments: int
    max_commitments: int | None
    per_user_limit: int
    starts_at: datetime
    ends_at: datetime
    redeem_until: datetime
    status: str
    committed_count: int = 0
    tipped_at: datetime | None = None


@dataclass
class ModelCommitment:
    id: uuid.UUID
    deal_id: uuid.UUID
    account_id: uuid.UUID
    quantity: int
    status: str


@dataclass
class ModelVoucher:
    code: str
    deal_id: uuid.UUID
    commitment_id: uuid.UUID
    account_id: uuid.UUID
    redeem_until: datetime
    status: str = "issued"


@dataclass
class Model:
    deals: dict[uuid.UUID, ModelDeal] = field(default_factory=dict)
    commitments: dict[uuid.UUID, ModelCommitment] = field(default_factory=dict)
    vouchers: dict[str, ModelVoucher] = field(default_factory=dict)
    voucher_order: list[str] = field(default_factory=list)  # stable choice for shrinking
    events: Counter = field(default_factory=Counter)  # (kind, deal id, recipient id)
    event_keys: set = field(default_factory=set)  # (kind, key, recipient): dedupe

    def emit(self, kind: str, key, deal_id: uuid.UUID, recipients) -> None:
        """An event of `kind` named `key` for each recipient, at most once per recipient."""
        for recipient in recipients:
            if (kind, key, recipient) not in self.event_keys:
                self.event_keys.add((kind, key, recipient))
                self.events[(kind, str(deal_id), str(recipient))] += 1

    def commitments_of(self, deal_id, *statuses, account_id=None) -> list[ModelCommitment]:
        return [
            c
            for c in self.commitments.values()
            if c.deal_id == deal_id
            and c.status in statuses
            and (account_id is None or c.account_id == account_id)
        ]

    def open_quantities(self) -> dict[tuple[str, str], int]:
        """(deal, account) -> pending + confirmed units (the per-user limit's measure)."""
        quantities = Counter()
        for c in self.commitments.values():
            if c.status in OPEN:
                quantities[(str(c.deal_id), str(c.account_id))] += c.quantity
        return dict(quantities)


class DealMachine(RuleBasedStateMachine):
    """Drives deals through services and jobs and compares the database with `Model`."""

    app = None  # set by the test

    deals = Bundle("deals")

    def __init__(self):
        super().__init__()
        self.sessions = self.app.extensions["db_sessionmaker"]
        self.engine = self.app.extensions["db_engine"]
        self.reset_database()
        self.now = T0
        self.model = Model()
        with self.session() as session, unit_of_work(session):

            def account(role: str, index: int) -> uuid.UUID:
                return register(
                    session=session,
                    email=f"{role}-{index}@example.com",
                    password="correct horse battery",
                    display_name=f"{role} {index}",
                    role=role,
                    hashing=FAST_HASHING,
                ).id

            self.merchant = account("merchant", 0)
            self.stranger = account("merchant", 1)
            self.customers = [account("customer", i) for i in range(CUSTOMERS)]
            merchant = session.get(Account, self.merchant)
            self.venue = create_venue(
                session=session,
                merchant=merchant,
                name="Model café",
                location={"lat": 52.52, "lon": 13.405},
            ).id

    # --- plumbing ---------------------------------------------------------------------------

    def reset_database(self) -> None:
        """Empty every table: the autouse clean-up only runs between test functions, and one
        test function runs many examples."""
        with self.engine.begin() as connection:
            for table in reversed(metadata.sorted_tables):
                connection.execute(text(f'DELETE FROM "{table.name}"'))

    @contextmanager
    def session(self):
        """A fresh session inside an app context (services and jobs read the app's config)."""
        with self.app.app_context():
            session = self.sessions()
            try:
                yield session
            finally:
                session.close()

    def call(self, verb, **kwargs):
        """Run a service or job in a fresh session and unit of work at `self.now`; (result, error
        code or None)."""
        with self.session() as session:
            for name in ("account", "merchant"):
                if name in kwargs:
                    kwargs[name] = session.get(Account, kwargs[name])
            try:
                return in_unit_of_work(session, verb, now=self.now, **kwargs), None
            except DomainError as error:
                return None, error.code

    def tick(self, seconds: int = 1) -> None:
        self.now += timedelta(seconds=seconds)

    def rows(self, sql: str, **params) -> list:
        with self.engine.connect() as connection:
            return connection.execute(text(sql), params).all()

    def learn_new_vouchers(self, expected: Counter) -> None:
        """Adopt the vouchers the last step issued: `expected` maps commitment -> units."""
        new = [
            row
            for row in self.rows(
                "SELECT code, deal_id, commitment_id, account_id, redeem_until FROM vouchers "
                "ORDER BY code"
            )
            if row.code not in self.model.vouchers
        ]
        issued = Counter(row.commitment_id for row in new)
        assert issued == expected, f"vouchers issued {dict(issued)}, expected {dict(expected)}"
        order = list(self.model.commitments)
        for row in sorted(new, key=lambda r: (order.index(r.commitment_id), r.code)):
            self.model.vouchers[row.code] = ModelVoucher(
                row.code, row.deal_id, row.commitment_id, row.account_id, row.redeem_until
            )
            self.model.voucher_order.append(row.code)

    # --- rules ------------------------------------------------------------------------------

    @initialize(
        target=deals,
        min_commitments=st.integers(1, 4),
        headroom=st.one_of(st.none(), st.integers(0, 3)),
        per_user_limit=st.integers(1, 3),
    )
    def open_a_deal(self, min_commitments, headroom, per_user_limit):
        return self.create_deal(
            min_commitments, headroom, per_user_limit, starts_in=0, lasts=1440, redeemable_for=1440
        )

    @precondition(lambda self: len(self.model.deals) < MAX_DEALS)
    @rule(
        target=deals,
        min_commitments=st.integers(1, 4),
        headroom=st.one_of(st.none(), st.integers(0, 3)),
        per_user_limit=st.integers(1, 3),
        starts_in=st.sampled_from([0, 0, 0, 0, 45]),
        lasts=st.sampled_from([60, 360, 1440, 4320]),
        redeemable_for=st.sampled_from([0, 90, 1440]),
    )
    def create_deal(
        self, min_commitments, headroom, per_user_limit, starts_in, lasts, redeemable_for
    ):
        self.tick()
        starts_at = self.now + timedelta(minutes=starts_in)
        ends_at = starts_at + timedelta(minutes=lasts)
        redeem_until = ends_at + timedelta(minutes=redeemable_for)
        maximum = None if headroom is None else min_commitments + headroom
        deal, error = self.call(
            services.create_deal,
            merchant=self.merchant,
            venue_id=self.venue,
            title="Model deal",
            price_cents=1000,
            currency="EUR",
            min_commitments=min_commitments,
            max_commitments=maximum,
            per_user_limit=per_user_limit,
            starts_at=starts_at,
            ends_at=ends_at,
            redeem_until=redeem_until,
        )
        assert error is None, error
        self.model.deals[deal.id] = ModelDeal(
            deal.id,
            min_commitments,
            maximum,
            per_user_limit,
            starts_at,
            ends_at,
            redeem_until,
            status="scheduled" if starts_in else "active",
        )
        return deal.id

    @rule(
        deal_id=deals,
        orders=st.lists(
            st.tuples(st.integers(0, CUSTOMERS - 1), st.integers(1, 3)), min_size=1, max_size=3
        ),
    )
    def customers_commit(self, deal_id, orders):
        """One to three commitments in a row (each checked against the model on its own)."""
        for customer, quantity in orders:
            self.commit(deal_id, customer, quantity)
            self.database_matches_the_model()

    def commit(self, deal_id, customer, quantity):
        self.tick()
        account_id = self.customers[customer]
        deal = self.model.deals[deal_id]
        open_units = sum(
            c.quantity for c in self.model.commitments_of(deal_id, *OPEN, account_id=account_id)
        )
        if deal.status not in COMMITTABLE or deal.starts_at > self.now or deal.ends_at <= self.now:
            expected = "deal-not-open"
        elif (
            deal.max_commitments is not None
            and deal.committed_count + quantity > deal.max_commitments
        ):
            expected = "sold-out"
        elif open_units + quantity > deal.per_user_limit:
            expected = "per-user-limit"
        else:
            expected = None

        result, error = self.call(
            services.commit_units, deal_id=deal_id, account=account_id, quantity=quantity
        )
        assert error == expected, (error, expected)
        tips = deal.tipped_at is None and deal.committed_count + quantity >= deal.min_commitments
        event(f"commit: {error or ('tipped it' if tips else 'ok')}")
        if error is not None:
            self.learn_new_vouchers(Counter())
            return

        commitment, _ = result
        tipped_before = deal.tipped_at is not None
        deal.committed_count += quantity
        if deal.status == "scheduled":
            deal.status = "active"
        mine = ModelCommitment(commitment.id, deal_id, account_id, quantity, "pending")
        self.model.commitments[mine.id] = mine
        issued = Counter()
        if tipped_before:
            mine.status = "confirmed"
            issued[mine.id] += quantity
        elif deal.committed_count >= deal.min_commitments:  # the tip, exactly once
            deal.status, deal.tipped_at = "tipped", self.now
            pending = self.model.commitments_of(deal_id, "pending")
            for c in pending:
                c.status = "confirmed"
                issued[c.id] += c.quantity
            self.model.emit(
                "deal.tipped", deal_id, deal_id, [*(c.account_id for c in pending), self.merchant]
            )
        self.model.emit("commitment.created", mine.id, deal_id, [self.merchant])
        assert commitment.status == mine.status
        self.learn_new_vouchers(issued)

    @rule(deal_id=deals, customer=st.integers(0, CUSTOMERS - 1))
    def withdraw(self, deal_id, customer):
        self.tick()
        account_id = self.customers[customer]
        deal = self.model.deals[deal_id]
        result, error = self.call(services.withdraw, deal_id=deal_id, account=account_id)
        if deal.status in ("tipped", "closed"):
            assert error == "deal-tipped", error
            return
        assert error is None, error
        mine = self.model.commitments_of(deal_id, "pending", account_id=account_id)
        for c in mine:
            c.status = "released"
        released = sum(c.quantity for c in mine)
        deal.committed_count -= released
        assert result[0] == released, (result[0], released)

    @rule(deal_id=deals, as_stranger=st.booleans().map(lambda b: not b))
    def cancel(self, deal_id, as_stranger):
        self.tick()
        if as_stranger:  # another merchant's deal is not found, and nothing changes
            _, error = self.call(services.cancel_deal, deal_id=deal_id, merchant=self.stranger)
            assert error == "not-found", error
            return
        deal = self.model.deals[deal_id]
        _, error = self.call(services.cancel_deal, deal_id=deal_id, merchant=self.merchant)
        event(f"cancel {deal.status}: {error or 'ok'}")
        if deal.status not in COMMITTABLE or deal.ends_at <= self.now:
            assert error == "deal-not-open", error
            return
        assert error is None, error
        committers = []
        for c in self.model.commitments_of(deal_id, *OPEN):
            c.status = "released"
            committers.append(c.account_id)
        for v in self.model.vouchers.values():
            if v.deal_id == deal_id and v.status == "issued":
                v.status = "void"
        deal.status, deal.committed_count = "cancelled", 0
        self.model.emit("deal.cancelled", deal_id, deal_id, committers)

    @rule(
        minutes=st.sampled_from([240, 1440, 30, 4320, 1]),
        scheduler_runs=st.booleans().map(lambda b: not b),
    )
    def time_passes(self, minutes, scheduler_runs):
        """Time passes; usually the scheduler's sweeps then run (sometimes it is down)."""
        self.tick(minutes * 60)
        if scheduler_runs:
            self.activate_deals()
            self.close_deals()
            self.expire_vouchers()

    @rule(job=st.sampled_from(["close", "expire", "activate"]))
    def a_sweep_runs_again(self, job):
        """A sweep runs on its own: again right after the scheduler ran it (it must do nothing
        new), or the first time after time passed with the scheduler down."""
        {
            "activate": self.activate_deals,
            "close": self.close_deals,
            "expire": self.expire_vouchers,
        }[job]()

    def activate_deals(self):
        self.tick()
        _, error = self.call(jobs.activate_deals)
        assert error is None, error
        for deal in self.model.deals.values():
            if deal.status == "scheduled" and deal.starts_at <= self.now < deal.ends_at:
                deal.status = "active"

    def close_deals(self):
        self.tick()
        result, error = self.call(jobs.close_deals)
        assert error is None, error
        event(f"close: {result['closed']} closed, {result['failed']} failed")
        for deal in self.model.deals.values():
            if deal.status not in COMMITTABLE or deal.ends_at > self.now:
                continue
            if deal.status == "tipped":
                deal.status = "closed"
                holders = [c.account_id for c in self.model.commitments_of(deal.id, "confirmed")]
                self.model.emit("deal.closed", deal.id, deal.id, [*holders, self.merchant])
            else:
                deal.status, deal.committed_count = "failed", 0
                released = self.model.commitments_of(deal.id, "pending")
                for c in released:
                    c.status = "released"
                self.model.emit(
                    "deal.failed",
                    deal.id,
                    deal.id,
                    [*(c.account_id for c in released), self.merchant],
                )

    def expire_vouchers(self):
        self.tick()
        result, error = self.call(jobs.expire_vouchers)
        assert error is None, error
        event(f"expire: {min(result['expired'], 1)}+ expired")
        for v in self.model.vouchers.values():
            if v.status == "issued" and v.redeem_until < self.now:
                v.status = "expired"

    @precondition(lambda self: self.model.vouchers)
    @rule(data=st.data(), as_stranger=st.booleans())
    def redeem(self, data, as_stranger):
        self.tick()
        code = data.draw(st.sampled_from(self.model.voucher_order), label="voucher")
        voucher = self.model.vouchers[code]
        merchant = self.stranger if as_stranger else self.merchant
        typed = code.lower().replace("-", " ")  # as read out at the till
        _, error = self.call(services.redeem_voucher, code=typed, merchant=merchant)
        if as_stranger:
            expected = "not-found"
        elif voucher.status == "redeemed":
            expected = "already-redeemed"
        elif voucher.status == "void":
            expected = "voucher-void"
        elif voucher.status == "expired" or voucher.redeem_until < self.now:
            expected = "voucher-expired"
        else:
            expected = None
        assert error == expected, (error, expected, voucher)
        event(f"redeem: {error or 'ok'}")
        if expected is None:
            voucher.status = "redeemed"
            self.model.emit(
                "voucher.redeemed", code, voucher.deal_id, [self.merchant, voucher.account_id]
            )

    # --- the comparison ---------------------------------------------------------------------

    @invariant()
    def database_matches_the_model(self):
        model = self.model
        deals = {
            row.id: row
            for row in self.rows(
                "SELECT id, status, committed_count, tipped_at, min_commitments, max_commitments "
                "FROM deals"
            )
        }
        assert set(deals) == set(model.deals)
        for deal_id, expected in model.deals.items():
            row = deals[deal_id]
            assert (row.status, row.committed_count, row.tipped_at) == (
                expected.status,
                expected.committed_count,
                expected.tipped_at,
            ), (row, expected)

        commitments = {
            row.id: (row.deal_id, row.account_id, row.quantity, row.status)
            for row in self.rows(
                "SELECT id, deal_id, account_id, quantity, status FROM commitments"
            )
        }
        assert commitments == {
            c.id: (c.deal_id, c.account_id, c.quantity, c.status)
            for c in model.commitments.values()
        }

        participants = {
            (str(row.deal_id), str(row.account_id)): row.open_quantity
            for row in self.rows("SELECT * FROM deal_participants")
        }
        assert participants == model.open_quantities()

        vouchers = {
            row.code: (row.deal_id, row.commitment_id, row.account_id, row.status, row.redeem_until)
            for row in self.rows("SELECT * FROM vouchers")
        }
        assert vouchers == {
            v.code: (v.deal_id, v.commitment_id, v.account_id, v.status, v.redeem_until)
            for v in model.vouchers.values()
        }

        events = Counter(
            (row.kind, row.payload.get("deal_id"), str(row.recipient_id))
            for row in self.rows(  # a group event counts once for each of its recipients
                "SELECT kind, payload, r.recipient_id FROM outbox_events CROSS JOIN LATERAL"
                " unnest(coalesce(recipient_ids, ARRAY[recipient_id])) AS r(recipient_id)"
            )
        )
        assert events == model.events, (
            f"unexpected {dict(events - model.events)}, missing {dict(model.events - events)}"
        )

    @invariant()
    def the_rules_of_api_md_hold(self):
        """Properties straight from docs/API.md, independent of how the model gets there."""
        model = self.model
        for deal in model.deals.values():
            if deal.max_commitments is not None:
                assert deal.committed_count <= deal.max_commitments
            if deal.status in ("tipped", "closed"):
                assert deal.tipped_at is not None
                assert deal.committed_count >= deal.min_commitments
            if deal.status in ("failed", "cancelled"):
                assert deal.committed_count == 0
                assert not model.commitments_of(deal.id, *OPEN)
            else:
                open_units = sum(c.quantity for c in model.commitments_of(deal.id, *OPEN))
                assert deal.committed_count == open_units
            tips = model.events[("deal.tipped", str(deal.id), str(self.merchant))]
            assert tips == (1 if deal.tipped_at is not None else 0)
        for (deal_id, _), units in model.open_quantities().items():
            assert units <= model.deals[uuid.UUID(deal_id)].per_user_limit
        vouchers = Counter(v.commitment_id for v in model.vouchers.values())
        for c in model.commitments.values():
            if c.status == "confirmed":
                assert vouchers[c.id] == c.quantity
            if c.status == "pending":
                assert vouchers[c.id] == 0


# Every example resets the database, so shrinking a failure can take many minutes: off by
# default (a failing run prints its at most 20 steps as they happened, and a blob for
# @reproduce_failure); SCHWARM_MODEL_SHRINK=1 turns it on when you debug one.
PHASES = [Phase.explicit, Phase.reuse, Phase.generate]
if os.environ.get("SCHWARM_MODEL_SHRINK") == "1":
    PHASES.append(Phase.shrink)


def test_deals_commitments_vouchers_and_events_follow_the_model(app, database_url):
    DealMachine.app = app
    run_state_machine_as_test(
        DealMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            database=None,
            phases=PHASES,
            print_blob=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
