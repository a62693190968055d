"""Configuration from environment variables, with `DATABASE_URL` winning over everything."""

import os

DEFAULT_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:55432/schwarm"


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def normalise_database_url(url: str) -> str:
    """Make plain `postgres://` / `postgresql://` URLs use the psycopg2 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def load_config(overrides: dict | None = None) -> dict:
    """Build the app configuration: defaults, then environment, then explicit overrides."""
    config = {
        "DATABASE_URL": os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        "DB_POOL_SIZE": _env_int("DB_POOL_SIZE", 10),
        "TOKEN_TTL_DAYS": _env_int("TOKEN_TTL_DAYS", 30),
        "CHECKIN_RATE_LIMIT": _env_int("CHECKIN_RATE_LIMIT", 20),
        "CHECKIN_RATE_WINDOW_SECONDS": _env_int("CHECKIN_RATE_WINDOW_SECONDS", 60),
        "COMMIT_RATE_LIMIT": _env_int("COMMIT_RATE_LIMIT", 30),
        "COMMIT_RATE_WINDOW_SECONDS": _env_int("COMMIT_RATE_WINDOW_SECONDS", 60),
        "REVIEW_RATE_LIMIT": _env_int("REVIEW_RATE_LIMIT", 20),
        "REVIEW_RATE_WINDOW_SECONDS": _env_int("REVIEW_RATE_WINDOW_SECONDS", 3600),
        "REVIEW_REPORT_RATE_LIMIT": _env_int("REVIEW_REPORT_RATE_LIMIT", 20),
        "REVIEW_REPORT_RATE_WINDOW_SECONDS": _env_int("REVIEW_REPORT_RATE_WINDOW_SECONDS", 3600),
        "ANONYMOUS_RATE_LIMIT": _env_int("ANONYMOUS_RATE_LIMIT", 600),
        "REFERRAL_CAP_CENTS": _env_int("REFERRAL_CAP_CENTS", 10_000),
        "REFERRAL_EARN_BATCH": _env_int("REFERRAL_EARN_BATCH", 500),
        "ANONYMOUS_RATE_WINDOW_SECONDS": _env_int("ANONYMOUS_RATE_WINDOW_SECONDS", 60),
        "PUBLIC_BASE_URL": (os.environ.get("PUBLIC_BASE_URL") or "http://127.0.0.1:8000").rstrip(
            "/"
        ),
        "LOGIN_MAX_FAILURES": _env_int("LOGIN_MAX_FAILURES", 10),
        "LOGIN_FAILURE_WINDOW_MINUTES": _env_int("LOGIN_FAILURE_WINDOW_MINUTES", 15),
        "LOGIN_EMAIL_MAX_FAILURES": _env_int("LOGIN_EMAIL_MAX_FAILURES", 20),
        "LOGIN_EMAIL_WINDOW_SECONDS": _env_int("LOGIN_EMAIL_WINDOW_SECONDS", 60),
        "PASSWORD_HASH_CONCURRENCY": _env_int("PASSWORD_HASH_CONCURRENCY", 2),
        "PASSWORD_HASH_WAIT_MS": _env_int("PASSWORD_HASH_WAIT_MS", 500),
        "SECRET_KEY": os.environ.get("SECRET_KEY") or None,
        "TRUSTED_PROXY_HOPS": _env_int("TRUSTED_PROXY_HOPS", 0),
        "PASSWORD_HASH_FAST": _env_bool("PASSWORD_HASH_FAST", False),
        "MAX_CONTENT_LENGTH": _env_int("MAX_BODY_BYTES", 1024 * 1024),
        "JSON_MAX_DEPTH": _env_int("JSON_MAX_DEPTH", 32),
        "IDEMPOTENCY_KEY_TTL_HOURS": _env_int("IDEMPOTENCY_KEY_TTL_HOURS", 24),
        "PUSH_GATEWAY_URL": os.environ.get("PUSH_GATEWAY_URL") or None,
        "WEBHOOK_ALLOW_LOOPBACK": _env_bool("WEBHOOK_ALLOW_LOOPBACK", False),
        "SCHEDULER_STANDBY_POLL_SECONDS": _env_int("SCHEDULER_STANDBY_POLL_SECONDS", 2),
        "JOB_INTERVAL_SECONDS": _env_int("JOB_INTERVAL_SECONDS", 30),
        "DISPATCH_INTERVAL_SECONDS": _env_int("DISPATCH_INTERVAL_SECONDS", 5),
        "DISPATCH_BATCH_SIZE": _env_int("DISPATCH_BATCH_SIZE", 500),
        "DISPATCH_WORKERS": _env_int("DISPATCH_WORKERS", 16),
        "DISPATCH_WORKERS_PER_ACCOUNT": _env_int("DISPATCH_WORKERS_PER_ACCOUNT", 8),
        "DISPATCH_RESPONSE_BYTES": _env_int("DISPATCH_RESPONSE_BYTES", 4096),
        "WEBHOOK_DNS_TIMEOUT_SECONDS": float(os.environ.get("WEBHOOK_DNS_TIMEOUT_SECONDS") or 2),
        "REMINDER_LEAD_MINUTES": _env_int("REMINDER_LEAD_MINUTES", 120),
        "NEARBY_ALERTS_PER_DAY": _env_int("NEARBY_ALERTS_PER_DAY", 5),
        "ALERT_AREAS_PER_ACCOUNT": _env_int("ALERT_AREAS_PER_ACCOUNT", 20),
        "DEVICES_PER_ACCOUNT": _env_int("DEVICES_PER_ACCOUNT", 10),
        "WEBHOOKS_PER_ACCOUNT": _env_int("WEBHOOKS_PER_ACCOUNT", 10),
        "REWARD_PROGRAMS_PER_VENUE": _env_int("REWARD_PROGRAMS_PER_VENUE", 20),
        "FRIEND_REQUEST_RATE_LIMIT": _env_int("FRIEND_REQUEST_RATE_LIMIT", 30),
        "FRIEND_REQUEST_RATE_WINDOW_SECONDS": _env_int("FRIEND_REQUEST_RATE_WINDOW_SECONDS", 3600),
        "FRIEND_REQUESTS_PENDING_MAX": _env_int("FRIEND_REQUESTS_PENDING_MAX", 50),
        "FRIENDS_PER_ACCOUNT": _env_int("FRIENDS_PER_ACCOUNT", 1000),
        "FRIEND_CHECKIN_NOTICES_PER_DAY": _env_int("FRIEND_CHECKIN_NOTICES_PER_DAY", 3),
        "PRUNE_INTERVAL_SECONDS": _env_int("PRUNE_INTERVAL_SECONDS", 24 * 3600),
        "PROBLEM_TYPE_BASE": os.environ.get("PROBLEM_TYPE_BASE", "https://schwarm.dev/problems/"),
        # The merchant dashboard (web/).
        "MAP_TILE_URL": os.environ.get("MAP_TILE_URL") or None,
        "MAP_TILE_ATTRIBUTION": os.environ.get(
            "MAP_TILE_ATTRIBUTION", "© OpenStreetMap contributors"
        ),
        "SESSION_COOKIE_SECURE": _env_bool("SESSION_COOKIE_SECURE", False),
        "DASHBOARD_SESSION_HOURS": _env_int("DASHBOARD_SESSION_HOURS", 12),
        "DASHBOARD_POLL_SECONDS": _env_int("DASHBOARD_POLL_SECONDS", 5),
        "WEBHOOK_TEST_RATE_LIMIT": _env_int("WEBHOOK_TEST_RATE_LIMIT", 10),
        "WEBHOOK_TEST_RATE_WINDOW_SECONDS": _env_int("WEBHOOK_TEST_RATE_WINDOW_SECONDS", 600),
        "PAYMENT_PROVIDER": (os.environ.get("PAYMENT_PROVIDER") or "none").strip().lower(),
        "STRIPE_API_KEY": os.environ.get("STRIPE_API_KEY") or None,
        "STRIPE_API_BASE": os.environ.get("STRIPE_API_BASE") or None,
        "STRIPE_WEBHOOK_SECRET": os.environ.get("STRIPE_WEBHOOK_SECRET") or None,
        "STRIPE_TIMEOUT_SECONDS": _env_int("STRIPE_TIMEOUT_SECONDS", 10),
        "PLATFORM_FEE_PERCENT": os.environ.get("PLATFORM_FEE_PERCENT") or "10",
        "PAYMENT_HOLD_DAYS": _env_int("PAYMENT_HOLD_DAYS", 6),
        "PAYMENT_FIX_HOURS": _env_int("PAYMENT_FIX_HOURS", 48),
        "PAYMENT_MIN_CHARGE_CENTS": _env_int("PAYMENT_MIN_CHARGE_CENTS", 50),
        "PAYMENT_PENDING_MINUTES": _env_int("PAYMENT_PENDING_MINUTES", 30),
        "PAYMENT_JOB_INTERVAL_SECONDS": _env_int("PAYMENT_JOB_INTERVAL_SECONDS", 10),
        "PAYMENT_BATCH_SIZE": _env_int("PAYMENT_BATCH_SIZE", 100),
        "PAYMENT_SWEEP_LOOKBACK_HOURS": _env_int("PAYMENT_SWEEP_LOOKBACK_HOURS", 72),
        "PAYMENT_RECONCILE_INTERVAL_SECONDS": _env_int(
            "PAYMENT_RECONCILE_INTERVAL_SECONDS", 24 * 3600
        ),
        "PAYMENT_RECONCILE_DAYS": _env_int("PAYMENT_RECONCILE_DAYS", 7),
    }
    config.update(overrides or {})
    config["DATABASE_URL"] = normalise_database_url(config["DATABASE_URL"])
    return config
