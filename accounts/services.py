"""Account verbs: register, log in (issue a token), authenticate, revoke."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accounts.errors import EmailTaken, HandleTaken, PasswordHashingBusy
from accounts.models import Account, Token
from accounts.passwords import PasswordHashing
from core.db import unit_of_work
from core.errors import RateLimited, Unauthorized
from core.keys import keyed_digest
from core.ratelimit import add_hit, forgive_hit


def normalise_email(email: str) -> str:
    """Emails compare case-insensitively and without surrounding spaces."""
    return email.strip().lower()


def hash_token(token: str) -> str:
    """The stored form of a bearer token."""
    return hashlib.sha256(token.encode()).hexdigest()


def register(
    *,
    session: Session,
    email: str,
    password: str,
    display_name: str,
    role: str,
    hashing: PasswordHashing,
) -> Account:
    """Create an account; 409 `email-taken` if the email is in use."""
    inserted = session.execute(
        insert(Account)
        .values(
            email=normalise_email(email),
            password_hash=hashing.hash(password),
            display_name=display_name,
            role=role,
        )
        .on_conflict_do_nothing(index_elements=["email"])
        .returning(Account.id)
    ).scalar_one_or_none()
    if inserted is None:
        raise EmailTaken("An account with this email already exists.")
    return session.get(Account, inserted)


@dataclass(frozen=True)
class LoginLimits:
    """Password checks one email gets: from one client address, and from all of them together.

    The per-client limit stops one guesser for the whole window, without locking out the owner
    on another address. The per-email limit, over a short window, slows guessing spread over
    many addresses; at worst it delays the owner by that short window.
    """

    per_client: int
    per_client_window: timedelta
    per_email: int
    per_email_window: timedelta

    @classmethod
    def from_config(cls, config) -> "LoginLimits":
        """The limits configured in `config`."""
        return cls(
            per_client=config["LOGIN_MAX_FAILURES"],
            per_client_window=timedelta(minutes=config["LOGIN_FAILURE_WINDOW_MINUTES"]),
            per_email=config["LOGIN_EMAIL_MAX_FAILURES"],
            per_email_window=timedelta(seconds=config["LOGIN_EMAIL_WINDOW_SECONDS"]),
        )


def _admit_login_attempt(
    session: Session, *, email: str, client: str, limits: LoginLimits, now: datetime
) -> list[tuple[str, datetime]]:
    """Count this password check against both limits, in a phase of its own that is durable
    before any hash is computed.

    Counted first and atomically (one upsert per counter), so parallel guesses cannot all pass
    one stale count, and committed before the hash, so no transaction stays open (holding the
    counters' rows) while it runs. A refused attempt rolls back and counts nowhere, so guesses
    refused for one client do not use up the budget of the email's other clients. Returns the
    counters hit.
    """
    email_key = "login:" + keyed_digest("login-email", email)[:40]
    checks = (
        (
            f"{email_key}:{client[:40]}",
            limits.per_client,
            limits.per_client_window,
            "Too many failed logins for this email from this address; try again later.",
        ),
        (
            email_key,
            limits.per_email,
            limits.per_email_window,
            "Too many failed logins for this email; try again shortly.",
        ),
    )
    counted = []
    with unit_of_work(session):
        for key, limit, window, detail in checks:
            hits, started = add_hit(session, key=key, window=window, now=now)
            if hits > limit:
                raise RateLimited((started + window - now).total_seconds(), detail)
            counted.append((key, started))
    return counted


def _forgive(session: Session, counted: list[tuple[str, datetime]]) -> None:
    for key, started in counted:
        forgive_hit(session, key=key, started=started)


def issue_token(
    *,
    session: Session,
    email: str,
    password: str,
    client: str,
    now: datetime,
    ttl: timedelta,
    limits: LoginLimits,
    hashing: PasswordHashing,
) -> tuple[str, Token, Account]:
    """Check credentials and create a bearer token; 429 past the `limits` on failed logins.

    `client` identifies the client address (a keyed hash of it). Only failures count: a
    successful login, or one refused because every hashing slot was busy, is forgiven.
    A login needs several transactions by nature: the attempt is counted in a phase of its own
    (core.db.unit_of_work), durable before the slow hash, and the token is written in the
    caller's unit of work.
    """
    email = normalise_email(email)
    account = session.scalars(select(Account).where(Account.email == email)).one_or_none()
    counted = _admit_login_attempt(session, email=email, client=client, limits=limits, now=now)
    try:
        verified = hashing.verify(account.password_hash if account else None, password)
    except PasswordHashingBusy:
        # A phase of its own: the edge rolls back on the 503, and the forgiving must stay.
        with unit_of_work(session):
            _forgive(session, counted)
        raise
    if not verified:
        raise Unauthorized("Wrong email or password.")  # counted already, in its own phase
    _forgive(session, counted)
    raw = "swm_" + secrets.token_urlsafe(32)
    token = Token(account_id=account.id, token_hash=hash_token(raw), expires_at=now + ttl)
    session.add(token)
    session.flush()
    return raw, token, account


# A token that still works: neither revoked nor expired at `now`.
_LIVE_TOKEN = (
    Token.revoked_at.is_(None),
    Token.expires_at > bindparam("now", type_=Token.expires_at.type),
)
_ACCOUNT_AND_TOKEN = select(Account, Token).join(Token, Token.account_id == Account.id)
# Built once: every authenticated request runs it, and building it cost a third of its time.
TOKEN_LOOKUP = _ACCOUNT_AND_TOKEN.where(
    Token.token_hash == bindparam("token_hash", type_=Token.token_hash.type), *_LIVE_TOKEN
)
# A dashboard session names its token by id (the cookie never holds a bearer secret).
TOKEN_ID_LOOKUP = _ACCOUNT_AND_TOKEN.where(
    Token.id == bindparam("token_id", type_=Token.id.type), *_LIVE_TOKEN
)


def authenticate(
    *, session: Session, authorization: str | None, now: datetime
) -> tuple[Account, Token]:
    """Resolve an `Authorization: Bearer` header to its account; 401 if missing, bad, expired or revoked."""
    scheme, _, raw = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise Unauthorized("Send `Authorization: Bearer <token>`; get a token from POST /tokens.")
    row = session.execute(
        TOKEN_LOOKUP, {"token_hash": hash_token(raw.strip()), "now": now}
    ).one_or_none()
    if row is None:
        raise Unauthorized("The token is unknown, expired or revoked.")
    return row[0], row[1]


def authenticate_token_id(
    *, session: Session, token_id: uuid.UUID, now: datetime
) -> tuple[Account, Token] | None:
    """The account and token of a live token by its id (a dashboard session); None if the token
    is unknown, expired or revoked."""
    row = session.execute(TOKEN_ID_LOOKUP, {"token_id": token_id, "now": now}).one_or_none()
    return None if row is None else (row[0], row[1])


def update_profile(*, session: Session, account: Account, **changes) -> Account:
    """Change the account's `handle` and/or `display_name`; 409 `handle-taken` if another
    account has the handle (the unique constraint decides, also between concurrent requests)."""
    for name, value in changes.items():
        setattr(account, name, value)
    try:
        with session.begin_nested():  # a savepoint: the refusal leaves the request's work alone
            session.flush()
    except IntegrityError as exc:
        raise HandleTaken("Another account has this handle; choose another.") from exc
    return account


def revoke_token(*, session: Session, token_id, now: datetime) -> None:
    """Make a token stop working."""
    token = session.get(Token, token_id)
    token.revoked_at = now
    session.flush()
