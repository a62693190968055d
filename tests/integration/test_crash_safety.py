"""Crash safety: a SIGKILLed gunicorn and an immediate PostgreSQL shutdown in
the middle of parallel commits and check-ins lose nothing acknowledged and leave nothing half done.

Every request carries its own `Idempotency-Key`. After the crash and the restart:
- every request that got a 2xx is in the database, exactly once, as it was answered;
- every request that got no answer (or a 5xx) is sent again with the same key and is either
  replayed or done now, exactly once; replaying an answered request gives the same answer;
- every counter equals the rows it counts (deal units, per-account units, vouchers, rewards);
- nothing is half done: every commitment, check-in and reward has its stored idempotent response
  and its outbox event, every confirmed unit its voucher, every tipped deal no pending rows.

The PostgreSQL test runs its own throw-away cluster (scripts/db.sh with its own port and
directory), never the shared server the other tests use.
"""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.conftest import ROOT, alembic_config
from tests.factories import API, BERLIN, deal_body, register_over_http
from tests.processes import wait_until

CUSTOMERS = 24
LOAD_THREADS = 30
COMMIT_SHARE = 0.6
# The crash comes once the load has run this long and this many requests got a 2xx (so there
# is something acknowledged to lose), or after LOAD_MAX_SECONDS on a very slow machine.
LOAD_MIN_SECONDS, LOAD_MIN_ACKNOWLEDGED, LOAD_MAX_SECONDS = 1.0, 40, 12.0
REQUEST_TIMEOUT = (3, 10)  # connect, read: a crashed server answers at once, never hangs a test
# Some clients give up waiting (a phone losing its signal): the server finishes their requests,
# the client knows nothing and sends them again after the crash, which must replay them.
IMPATIENT_SHARE, IMPATIENT_TIMEOUT = 0.15, (3, 0.05)
SETTLE_SECONDS = 20  # how long an unanswered request is retried after the restart
REPLAY_SAMPLE = 40  # answered requests sent again to check their replay
DEFINITE_REFUSALS = {"sold-out", "per-user-limit"}  # 409s that mean "nothing was done"


# --- processes ------------------------------------------------------------------------------


def pick_port() -> int:
    """A free loopback port below Linux's ephemeral range (32768+), so no client socket can take
    it between a crash and the restart on the same port."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port found in 20000-32000")


def answers(url: str) -> bool:
    """Whether `GET url` answers 200 (within a second)."""
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


class Gunicorn:
    """A real gunicorn (2 workers x 8 threads) in its own process group, logging to a file."""

    def __init__(self, database_url: str, log_path: Path, port: int | None = None):
        self.database_url = database_url
        self.log_path = log_path
        self.port = port or pick_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> None:
        """Start and wait until /readyz answers (database reachable, schema at head)."""
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process (its workers boot while the caller does other things)."""
        env = dict(
            os.environ,
            DATABASE_URL=self.database_url,
            PASSWORD_HASH_FAST="true",
            # Resends count against the per-account check-in limit too (even when they are
            # replayed); this test is about crashes, not about that limit.
            CHECKIN_RATE_LIMIT="100000",
        )
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    "2",
                    "--threads",
                    "8",
                    "--no-control-socket",
                    "--log-level",
                    "warning",
                    "app:create_app()",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killpg reaches every worker
            )

    def wait_ready(self, timeout: float = 30) -> None:
        """Until /readyz answers 200; fails early if gunicorn exits."""
        ready = wait_until(
            lambda: self.process.poll() is not None or answers(self.base_url + "/readyz"), timeout
        )
        if not ready or self.process.poll() is not None:
            raise RuntimeError(f"gunicorn did not become ready; log:\n{self.log_tail()}")

    def kill_hard(self) -> None:
        """SIGKILL the master and every worker at once (the whole process group)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Teardown: the whole group, at once (a graceful stop takes seconds and tests nothing
        here; the database backends see their clients go and end)."""
        self.kill_hard()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class ThrowawayCluster:
    """A PostgreSQL cluster of its own, made by scripts/db.sh on a free port in a temp dir."""

    def __init__(self):
        self.port = pick_port()
        # Not made here: db.sh creates it owned by `postgres` (initdb refuses root).
        self.base = Path(tempfile.gettempdir()) / f"schwarm-crash-pg-{uuid.uuid4().hex[:12]}"
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER")
        }
        self.env.update(
            SCHWARM_PG_PORT=str(self.port),
            SCHWARM_PG_DIR=str(self.base),
            SCHWARM_PG_SHARED_BUFFERS="128MB",
        )  # a small, short-lived cluster

    def db_sh(self, *args: str, timeout: float = 90) -> None:
        result = subprocess.run(
            ["bash", str(ROOT / "scripts" / "db.sh"), *args],
            check=False,
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"db.sh {' '.join(args)} failed:\n{result.stderr}\n{self.log_tail()}"
            )

    def start(self) -> None:
        self.db_sh("start")

    def url(self, database: str = "schwarm_test") -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.base / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def shutdown_immediately(self) -> None:
        """`pg_ctl stop -m immediate`: SIGQUIT to the postmaster; no checkpoint, crash recovery
        on the next start. Waits until the postmaster is gone."""
        pid = self.postmaster_pid()
        assert pid is not None, "the cluster is not running"
        os.kill(pid, signal.SIGQUIT)

        def gone() -> bool:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                return True
            return state in ("Z", "X")  # a zombie nobody reaps is gone too

        assert wait_until(gone, timeout=30), "the postmaster did not exit after SIGQUIT"

    def destroy(self) -> None:
        """Stop the cluster and delete it, whatever state it is in."""
        try:
            self.db_sh("destroy", timeout=150)
        except Exception:  # noqa: BLE001 - cleanup must go on
            pid = self.postmaster_pid()
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGQUIT)
                    wait_until(lambda: not Path(f"/proc/{pid}").exists(), timeout=10)
                except ProcessLookupError:
                    pass
        shutil.rmtree(self.base, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text_ = (self.base / "server.log").read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text_.splitlines()[-lines:])


# --- the world the load runs in ------------------------------------------------------------


@dataclass
class World:
    """The merchant, customers, deals and venues (with reward programs) the load hits."""

    base_url: str
    merchant: dict
    customers: list[dict]
    deals: list[dict]
    venues: list[dict]
    programs: list[dict]

    @property
    def deal_ids(self) -> list[str]:
        return [deal["id"] for deal in self.deals]

    @property
    def venue_ids(self) -> list[str]:
        return [venue["id"] for venue in self.venues]


def post(base_url: str, path: str, who: dict, body: dict) -> dict:
    response = requests.post(
        f"{base_url}{API}{path}", json=body, headers=who["headers"], timeout=30
    )
    assert response.status_code == 201, (path, response.status_code, response.text)
    return response.json()


def build_world(base_url: str) -> World:
    """Over HTTP: one merchant; a deal that tips under the load, one that sells out and one that
    never tips (all with a per-user limit of 3); two venues at one spot with all six kinds of
    reward program (first_visit and flash capped); CUSTOMERS customers."""
    merchant = register_over_http(base_url, 1, role="merchant")[0]
    customers = register_over_http(base_url, CUSTOMERS)
    venues = [
        post(base_url, "/venues", merchant, {"name": f"Crash venue {n}", "location": BERLIN})
        for n in range(2)
    ]
    program_bodies = [
        (0, {"kind": "first_visit", "title": "Welcome", "max_rewards": 10}),
        (0, {"kind": "swarm", "title": "Swarm", "threshold": 3, "window_minutes": 60}),
        (0, {"kind": "flash", "title": "Flash", "threshold": 8}),
        (0, {"kind": "mayor", "title": "Mayor"}),
        (1, {"kind": "every_nth", "title": "Punch card", "threshold": 1}),
        (1, {"kind": "frequency", "title": "Regular", "threshold": 1, "window_days": 7}),
    ]
    programs = [
        post(base_url, f"/venues/{venues[n]['id']}/reward-programs", merchant, body)
        for n, body in program_bodies
    ]
    deals = [
        post(
            base_url,
            "/deals",
            merchant,
            deal_body(
                venues[0], title=title, min_commitments=low, max_commitments=high, per_user_limit=3
            ),
        )
        for title, low, high in (
            ("tips under load", 15, None),
            ("sells out", 5, 20),
            ("never tips", 500, 1000),
        )
    ]
    return World(base_url, merchant, customers, deals, venues, programs)


# --- the load -------------------------------------------------------------------------------


@dataclass
class Call:
    """One logical request (one Idempotency-Key) and what became of it."""

    kind: str  # "commit" | "checkin"
    path: str
    account_id: str
    headers: dict
    body: dict
    target_id: str  # deal or venue
    impatient: bool = False  # gives up waiting for the first answer after IMPATIENT_TIMEOUT
    status: int | None = None  # the latest answer's status; None: no answer
    answer: dict | None = None
    replayed: bool = False
    first_status: int | None = None  # what the load itself got
    first_error: str | None = None
    error: str | None = None
    sends: int = 0

    @property
    def code(self) -> str | None:
        return (self.answer or {}).get("code")

    @property
    def settled(self) -> bool:
        """Answered in a way that says what happened: 2xx, or a 4xx other than 'still running'."""
        return (
            self.status is not None and self.status < 500 and self.code != "idempotency-key-in-use"
        )

    @property
    def created_id(self) -> str | None:
        status, answer = self.status, self.answer  # the load's threads may be writing them
        if status is None or not 200 <= status < 300 or answer is None:
            return None
        return answer["commitment" if self.kind == "commit" else "checkin"]["id"]


def send(http: requests.Session, base_url: str, call: Call) -> None:
    """Send `call` once and record the outcome on it."""
    call.sends += 1
    impatient = call.impatient and call.sends == 1
    try:
        response = http.post(
            base_url + API + call.path,
            json=call.body,
            headers=call.headers,
            timeout=IMPATIENT_TIMEOUT if impatient else REQUEST_TIMEOUT,
        )
    except requests.RequestException as exc:
        call.status, call.answer, call.error = None, None, type(exc).__name__
        return
    try:
        answer = response.json()
    except ValueError:
        answer = {"unparsed": response.text[:200]}
    call.answer, call.error = answer, None
    call.status = response.status_code
    call.replayed = response.headers.get("Idempotent-Replayed") == "true"


class Load:
    """LOAD_THREADS threads sending commits and check-ins, each with a fresh Idempotency-Key."""

    def __init__(self, world: World, seed: int):
        self.world = world
        self.seed = seed
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(LOAD_THREADS)
        ]
        self.started = 0.0

    def _new_call(self, rng: random.Random) -> Call:
        customer = rng.choice(self.world.customers)
        impatient = rng.random() < IMPATIENT_SHARE
        headers = {**customer["headers"], "Idempotency-Key": f"crash-{uuid.uuid4()}"}
        account_id = customer["account"]["id"]
        if rng.random() < COMMIT_SHARE:
            deal = rng.choice(self.world.deals)
            return Call(
                "commit",
                f"/deals/{deal['id']}/commitments",
                account_id,
                headers,
                {"quantity": rng.choice((1, 1, 2))},
                deal["id"],
                impatient,
            )
        venue = rng.choice(self.world.venues)
        return Call(
            "checkin",
            f"/venues/{venue['id']}/checkins",
            account_id,
            headers,
            {"location": BERLIN, "accuracy_m": 12.0},
            venue["id"],
            impatient,
        )

    def _run(self, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        with requests.Session() as http:
            while not self.stop_event.is_set():
                call = self._new_call(rng)
                with self.lock:  # recorded before it is sent: no request goes unaccounted for
                    self.calls.append(call)
                send(http, self.world.base_url, call)
                call.first_status, call.first_error = call.status, call.error
                if call.status is None and call.impatient:
                    continue
                if call.status is None or call.status >= 500:
                    time.sleep(0.3)  # as a phone would, back off a little after an error

    def acknowledged(self) -> int:
        with self.lock:
            return sum(1 for call in self.calls if call.created_id is not None)

    def start(self) -> None:
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()

    def wait_for_momentum(self) -> None:
        """Until the load ran LOAD_MIN_SECONDS with LOAD_MIN_ACKNOWLEDGED 2xx (bounded)."""
        wait_until(
            lambda: (
                time.monotonic() - self.started >= LOAD_MIN_SECONDS
                and self.acknowledged() >= LOAD_MIN_ACKNOWLEDGED
            ),
            timeout=LOAD_MAX_SECONDS,
            interval=0.05,
        )

    def stop(self) -> None:
        self.stop_event.set()
        deadline = time.monotonic() + sum(REQUEST_TIMEOUT) + 10
        for thread in self.threads:
            thread.join(timeout=max(0.1, deadline - time.monotonic()))
        alive = [thread for thread in self.threads if thread.is_alive()]
        assert not alive, f"{len(alive)} load threads still running"


def settle(base_url: str, calls: list[Call]) -> None:
    """Send every unsettled call again, same key and body, until it is settled (bounded)."""

    def one(call: Call) -> None:
        deadline = time.monotonic() + SETTLE_SECONDS
        with requests.Session() as http:
            while True:
                send(http, base_url, call)
                if call.settled or time.monotonic() >= deadline:
                    return
                time.sleep(0.2)

    pending = [call for call in calls if not call.settled]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(one, pending))
    unsettled = [(c.kind, c.status, c.code, c.error) for c in calls if not c.settled]
    assert not unsettled, f"{len(unsettled)} requests never settled: {unsettled[:5]}"


def check_replays(base_url: str, calls: list[Call], rng: random.Random) -> int:
    """Answered requests sent again with their key get the very same answer, marked replayed."""
    answered = [
        call for call in calls if call.first_status is not None and 200 <= call.first_status < 300
    ]
    sample = rng.sample(answered, min(REPLAY_SAMPLE, len(answered)))
    before = [(call.status, call.answer) for call in sample]

    def again(call: Call) -> None:
        with requests.Session() as http:
            send(http, base_url, call)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(again, sample))
    for call, (status, answer) in zip(sample, before, strict=True):
        assert (call.status, call.answer) == (status, answer), (call.path, answer, call.answer)
        assert call.replayed, call.path
    return len(sample)


# --- the checks -----------------------------------------------------------------------------


def query(engine, sql: str, **params) -> list:
    with engine.connect() as connection:
        return connection.execute(text(sql), params).all()


def assert_every_answer_is_in_the_database_exactly_once(engine, world: World, calls: list[Call]):
    """The set of created ids answered with 2xx (one per key) is exactly the set of rows."""
    outcomes = Counter("2xx" if c.created_id else f"{c.status} {c.code}" for c in calls)
    allowed = {"2xx"} | {f"409 {code}" for code in DEFINITE_REFUSALS}
    assert set(outcomes) <= allowed, outcomes

    for kind, table, target, targets in (
        ("commit", "commitments", "deal_id", world.deal_ids),
        ("checkin", "checkins", "venue_id", world.venue_ids),
    ):
        answered = [c for c in calls if c.kind == kind and c.created_id]
        ids = [c.created_id for c in answered]
        assert len(ids) == len(set(ids)), f"two keys were answered with one {kind}"
        stored = {
            str(row.id): row
            for row in query(
                engine,
                f"SELECT id, account_id, {target} AS target, "
                f"{'quantity' if kind == 'commit' else 'NULL'} AS quantity FROM {table} "
                f"WHERE {target} = ANY(CAST(:targets AS uuid[]))",
                targets=targets,
            )
        }
        missing = set(ids) - set(stored)
        extra = set(stored) - set(ids)
        assert not missing, f"{len(missing)} acknowledged {kind}s are lost"
        assert not extra, f"{len(extra)} {kind}s were made without an answer (done twice?)"
        for call in answered:
            row = stored[call.created_id]
            assert str(row.account_id) == call.account_id and str(row.target) == call.target_id
            if kind == "commit":
                assert row.quantity == call.body["quantity"]

    # Rewards a 2xx check-in announced are there, for that account.
    announced = {
        (reward["code"], c.account_id)
        for c in calls
        if c.kind == "checkin" and c.created_id
        for reward in c.answer["rewards"]
    }
    rewards = {
        (row.code, str(row.account_id))
        for row in query(
            engine,
            "SELECT code, account_id FROM rewards WHERE venue_id = ANY(CAST(:v AS uuid[]))",
            v=world.venue_ids,
        )
    }
    assert announced <= rewards, f"{len(announced - rewards)} announced rewards are lost"


def assert_counters_equal_their_rows(engine, world: World) -> None:
    deals = world.deal_ids
    assert (
        query(
            engine,
            """
        SELECT d.id, d.committed_count, coalesce(sum(c.quantity), 0) AS open_units
          FROM deals d LEFT JOIN commitments c ON c.deal_id = d.id AND c.status <> 'released'
         WHERE d.id = ANY(CAST(:d AS uuid[]))
         GROUP BY d.id HAVING d.committed_count <> coalesce(sum(c.quantity), 0)""",
            d=deals,
        )
        == []
    )
    assert (
        query(
            engine,
            """
        WITH open AS (
            SELECT deal_id, account_id, sum(quantity) AS units FROM commitments
             WHERE status <> 'released' AND deal_id = ANY(CAST(:d AS uuid[]))
             GROUP BY deal_id, account_id),
        participants AS (
            SELECT * FROM deal_participants WHERE deal_id = ANY(CAST(:d AS uuid[])))
        SELECT o.deal_id, o.account_id, o.units, p.deal_id, p.account_id, p.open_quantity
          FROM open o FULL JOIN participants p USING (deal_id, account_id)
         WHERE coalesce(o.units, 0) <> coalesce(p.open_quantity, 0)""",
            d=deals,
        )
        == []
    )
    assert (
        query(
            engine,
            """
        SELECT d.id FROM deals d JOIN deal_participants p ON p.deal_id = d.id
         WHERE d.id = ANY(CAST(:d AS uuid[])) AND p.open_quantity > d.per_user_limit""",
            d=deals,
        )
        == []
    )
    # Vouchers: one per confirmed unit, of the commitment's deal and account; none for pending.
    assert (
        query(
            engine,
            """
        SELECT c.id, c.status, c.quantity, count(v.id) AS vouchers
          FROM commitments c LEFT JOIN vouchers v ON v.commitment_id = c.id
         WHERE c.deal_id = ANY(CAST(:d AS uuid[]))
         GROUP BY c.id
        HAVING count(v.id) <> CASE WHEN c.status = 'confirmed' THEN c.quantity ELSE 0 END
            OR bool_or(v.deal_id <> c.deal_id OR v.account_id <> c.account_id)""",
            d=deals,
        )
        == []
    )
    # The tip: tipped exactly when the tipping point was reached; no pending rows after it,
    # no confirmed rows before it; one deal.tipped per recipient, only for tipped deals.
    assert (
        query(
            engine,
            """
        SELECT id, status, committed_count, min_commitments, tipped_at FROM deals
         WHERE id = ANY(CAST(:d AS uuid[])) AND NOT (
               (tipped_at IS NOT NULL) = (committed_count >= min_commitments)
           AND (status = 'tipped') = (tipped_at IS NOT NULL)
           AND (max_commitments IS NULL OR committed_count <= max_commitments))""",
            d=deals,
        )
        == []
    )
    assert (
        query(
            engine,
            """
        SELECT c.id, c.status, d.status FROM commitments c JOIN deals d ON d.id = c.deal_id
         WHERE d.id = ANY(CAST(:d AS uuid[])) AND c.status <> 'released'
           AND (c.status = 'pending') = (d.tipped_at IS NOT NULL)""",
            d=deals,
        )
        == []
    )
    assert (
        query(
            engine,
            """
        SELECT d.id, count(e.id), count(DISTINCT e.recipient_id) FROM deals d
          LEFT JOIN outbox_events e ON e.kind = 'deal.tipped' AND e.payload->>'deal_id' = d.id::text
         WHERE d.id = ANY(CAST(:d AS uuid[])) GROUP BY d.id
        HAVING count(e.id) <> count(DISTINCT e.recipient_id)
            OR (count(e.id) > 0) <> bool_or(d.tipped_at IS NOT NULL)""",
            d=deals,
        )
        == []
    )
    # Reward programs: the counter is the rows.
    assert (
        query(
            engine,
            """
        SELECT p.id, p.kind, p.rewards_issued, count(r.id) FROM reward_programs p
          LEFT JOIN rewards r ON r.program_id = p.id
         WHERE p.venue_id = ANY(CAST(:v AS uuid[]))
         GROUP BY p.id HAVING p.rewards_issued <> count(r.id)""",
            v=world.venue_ids,
        )
        == []
    )


def assert_nothing_half_done(engine, world: World) -> None:
    """Each effect came with everything its transaction writes: stored response, outbox event."""
    deals, venues = world.deal_ids, world.venue_ids
    assert (
        query(
            engine,
            """
        SELECT c.id FROM commitments c WHERE c.deal_id = ANY(CAST(:d AS uuid[])) AND NOT EXISTS (
            SELECT 1 FROM outbox_events e WHERE e.kind = 'commitment.created'
               AND e.payload->>'commitment_id' = c.id::text)""",
            d=deals,
        )
        == []
    )
    assert (
        query(
            engine,
            """
        SELECT e.id FROM outbox_events e WHERE e.kind = 'commitment.created'
           AND e.payload->>'deal_id' = ANY(CAST(:d AS text[])) AND NOT EXISTS (
            SELECT 1 FROM commitments c WHERE c.id::text = e.payload->>'commitment_id')""",
            d=deals,
        )
        == []
    )
    assert (
        query(
            engine,
            """
        SELECT k.id FROM checkins k WHERE k.venue_id = ANY(CAST(:v AS uuid[])) AND NOT EXISTS (
            SELECT 1 FROM outbox_events e WHERE e.kind = 'checkin.created'
               AND e.payload->>'checkin_id' = k.id::text)""",
            v=venues,
        )
        == []
    )
    assert (
        query(
            engine,
            """
        SELECT r.id FROM rewards r WHERE r.venue_id = ANY(CAST(:v AS uuid[])) AND NOT EXISTS (
            SELECT 1 FROM outbox_events e WHERE e.kind = 'reward.earned'
               AND e.payload->>'code' = r.code AND e.recipient_id = r.account_id)""",
            v=venues,
        )
        == []
    )
    assert (
        query(
            engine,
            """
        SELECT r.id FROM rewards r LEFT JOIN checkins k ON k.id = r.checkin_id
         WHERE r.venue_id = ANY(CAST(:v AS uuid[])) AND (k.id IS NULL OR NOT k.counted)""",
            v=venues,
        )
        == []
    )
    # Stored idempotent responses and effects: one each way.
    stored = Counter()
    ours = {("commitment", "deal_id"): set(deals), ("checkin", "venue_id"): set(venues)}
    for (body,) in query(
        engine, "SELECT response_body FROM idempotency_keys WHERE scope LIKE 'account:%'"
    ):
        answer = json.loads(body)
        for (kind, target), targets in ours.items():
            if isinstance(answer, dict) and answer.get(kind, {}).get(target) in targets:
                stored[(kind, answer[kind]["id"])] += 1
    assert all(count == 1 for count in stored.values())
    effects = {
        ("commitment", str(r.id))
        for r in query(
            engine, "SELECT id FROM commitments WHERE deal_id = ANY(CAST(:d AS uuid[]))", d=deals
        )
    }
    effects |= {
        ("checkin", str(r.id))
        for r in query(
            engine, "SELECT id FROM checkins WHERE venue_id = ANY(CAST(:v AS uuid[]))", v=venues
        )
    }
    assert set(stored) == effects


def assert_consistent(engine, world: World, calls: list[Call]) -> None:
    assert_every_answer_is_in_the_database_exactly_once(engine, world, calls)
    assert_counters_equal_their_rows(engine, world)
    assert_nothing_half_done(engine, world)


def first_outcome(call: Call) -> str:
    if call.first_status is not None:
        return str(call.first_status)
    return "gave up" if call.impatient else f"no answer ({call.first_error})"


def resend_outcomes(calls: list[Call]) -> Counter:
    """What the requests sent again after the restart got: replayed, done now, or refused."""
    return Counter(
        "replayed" if c.replayed else "done on resend" if c.created_id else f"refused ({c.code})"
        for c in calls
        if c.sends > 1
    )


def summary(calls: list[Call]) -> str:
    first = Counter(first_outcome(c) for c in calls)
    final = Counter("2xx" if c.created_id else f"{c.status} {c.code}" for c in calls)
    return (
        f"{len(calls)} requests; first answers {dict(first)}; "
        f"resent {dict(resend_outcomes(calls))}; final {dict(final)}"
    )


# --- the tests ------------------------------------------------------------------------------


def test_a_gunicorn_killed_with_sigkill_mid_load_loses_nothing_acknowledged_and_duplicates_nothing(
    database_url, engine, tmp_path
):
    server = Gunicorn(database_url, tmp_path / "gunicorn.log")
    load = None
    try:
        server.start()
        world = build_world(server.base_url)
        load = Load(world, seed=7)
        load.start()
        load.wait_for_momentum()

        server.kill_hard()  # mid-load: requests in flight, in the accept queue and on their way
        load.stop()
        calls = load.calls
        cut_off = [c for c in calls if c.first_status is None and not c.impatient]
        assert load.acknowledged() > 0, summary(calls)
        assert cut_off, "the kill came after the load: nothing was in flight"

        server.start()  # same port, same database
        settle(server.base_url, calls)
        outcome, resent = summary(calls), resend_outcomes(calls)
        replays = check_replays(server.base_url, calls, random.Random(7))
        assert_consistent(engine, world, calls)
        assert resent["replayed"] > 0, outcome  # both paths were taken, replay and first run
        print(f"\ngunicorn SIGKILL: {outcome}; {replays} answered requests replayed identically")
    finally:
        if load is not None:
            load.stop_event.set()
        server.stop()


def test_an_immediate_postgresql_shutdown_mid_load_loses_nothing_acknowledged_and_the_app_recovers(
    tmp_path,
):
    cluster = ThrowawayCluster()
    server = Gunicorn(cluster.url(), tmp_path / "gunicorn.log")
    load = None
    check_engine = None
    try:
        server.launch()  # its workers boot while the cluster is made
        cluster.start()
        url = cluster.url()
        command.upgrade(alembic_config(url), "head")
        server.wait_ready()
        world = build_world(server.base_url)
        load = Load(world, seed=11)
        load.start()
        load.wait_for_momentum()

        cluster.shutdown_immediately()  # `pg_ctl stop -m immediate` while requests run
        time.sleep(0.3)  # the load goes on against a dead database for a moment
        load.stop()
        calls = load.calls
        failed = [
            c
            for c in calls
            if c.first_status is not None
            and c.first_status >= 500
            or c.first_status is None
            and not c.impatient
        ]
        assert load.acknowledged() > 0, summary(calls)
        assert failed, "no request ran into the dead database"

        cluster.start()  # crash recovery; gunicorn keeps running
        assert wait_until(lambda: answers(server.base_url + "/readyz"), timeout=30), (
            f"the app did not recover:\n{server.log_tail()}"
        )
        settle(server.base_url, calls)
        outcome, resent = summary(calls), resend_outcomes(calls)
        replays = check_replays(server.base_url, calls, random.Random(11))

        # New work succeeds again on the same gunicorn (its pool pre-pings and reconnects).
        customer = register_over_http(server.base_url, 1)[0]
        fresh = [
            Call(
                "commit",
                f"/deals/{world.deals[2]['id']}/commitments",
                customer["account"]["id"],
                {**customer["headers"], "Idempotency-Key": "after-1"},
                {"quantity": 1},
                world.deals[2]["id"],
            ),
            Call(
                "checkin",
                f"/venues/{world.venues[1]['id']}/checkins",
                customer["account"]["id"],
                {**customer["headers"], "Idempotency-Key": "after-2"},
                {"location": BERLIN, "accuracy_m": 12.0},
                world.venues[1]["id"],
            ),
        ]
        with requests.Session() as http:
            for call in fresh:
                send(http, server.base_url, call)
        assert [(c.status, c.code) for c in fresh] == [(201, None), (201, None)]

        check_engine = create_engine(url, poolclass=NullPool)
        assert_consistent(check_engine, world, calls + fresh)
        assert resent["replayed"] > 0, outcome  # both paths were taken, replay and first run
        print(
            f"\nPostgreSQL immediate shutdown: {outcome}; "
            f"{replays} answered requests replayed identically"
        )
    finally:
        if load is not None:
            load.stop_event.set()
        server.stop()
        if check_engine is not None:
            check_engine.dispose()
        cluster.destroy()
