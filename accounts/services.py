"""Account verbs: register, log in (issue a token), authenticate, revoke."""
import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from accounts.errors import EmailTaken
from accounts.models import Account, LoginFailure, Token
from accounts.passwords import hash_password, verify_password
from core.errors import RateLimited, Unauthorized


def normalise_email(email: str) -> str:
    """Emails compare case-insensitively and without surrounding spaces."""
    return email.strip().lower()


def hash_token(token: str) -> str:
    """The stored form of a bearer token."""
    return hashlib.sha256(token.encode()).hexdigest()


def register(
    *, session: Session, email: str, password: str, display_name: str, role: str,
    fast_hash: bool = False,
) -> Account:
    """Create an account; 409 `email-taken` if the email is in use."""
    inserted = session.execute(
        insert(Account)
        .values(
            email=normalise_email(email),
            password_hash=hash_password(password, fast=fast_hash),
            display_name=display_name,
            role=role,
        )
        .on_conflict_do_nothing(index_elements=["email"])
        .returning(Account.id)
    ).scalar_one_or_none()
    if inserted is None:
        session.rollback()
        raise EmailTaken("An account with this email already exists.")
    session.commit()
    return session.get(Account, inserted)


def issue_token(
    *, session: Session, email: str, password: str, now: datetime, ttl: timedelta,
    max_failures: int, failure_window: timedelta, fast_hash: bool = False,
) -> tuple[str, Token, Account]:
    """Check credentials and create a bearer token; 429 after too many recent failures."""
    email = normalise_email(email)
    window_start = now - failure_window
    failures = session.execute(
        select(func.count(), func.min(LoginFailure.failed_at)).where(
            LoginFailure.email == email, LoginFailure.failed_at > window_start
        )
    ).one()
    if failures[0] >= max_failures:
        retry_after = (failures[1] + failure_window - now).total_seconds()
        raise RateLimited(retry_after, "Too many failed logins for this email; try again later.")
    account = session.scalars(select(Account).where(Account.email == email)).one_or_none()
    if not verify_password(account.password_hash if account else None, password, fast=fast_hash):
        session.add(LoginFailure(email=email, failed_at=now))
        session.execute(delete(LoginFailure).where(LoginFailure.failed_at <= window_start))
        session.commit()
        raise Unauthorized("Wrong email or password.")
    raw = "swm_" + secrets.token_urlsafe(32)
    token = Token(account_id=account.id, token_hash=hash_token(raw), expires_at=now + ttl)
    session.add(token)
    session.commit()
    return raw, token, account


# Built once: every authenticated request runs it, and building it cost a third of its time.
TOKEN_LOOKUP = (
    select(Account, Token)
    .join(Token, Token.account_id == Account.id)
    .where(
        Token.token_hash == bindparam("token_hash", type_=Token.token_hash.type),
        Token.revoked_at.is_(None),
        Token.expires_at > bindparam("now", type_=Token.expires_at.type),
    )
)


def authenticate(*, session: Session, authorization: str | None, now: datetime) -> tuple[Account, Token]:
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


def revoke_token(*, session: Session, token_id, now: datetime) -> None:
    """Make a token stop working."""
    token = session.get(Token, token_id)
    token.revoked_at = now
    session.commit()
