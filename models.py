"""Every model, imported so that `Base.metadata` is complete (Alembic, tests)."""

import accounts.models  # noqa: F401
import checkins.models  # noqa: F401
import core.idempotency  # noqa: F401
import core.ratelimit  # noqa: F401
import deals.models  # noqa: F401
import notifications.models  # noqa: F401
import payments.models  # noqa: F401
import referrals.models  # noqa: F401
import reviews.models  # noqa: F401
import social.models  # noqa: F401
import venues.models  # noqa: F401
from core.db import Base

metadata = Base.metadata
