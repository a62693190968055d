"""The compiled SQL of the commit and check-in statements, pinned in tests/golden/*.sql.

A change to one of these statements shows up in review as a change to its golden file.
`UPDATE_GOLDEN=1` rewrites the files from the code instead of comparing.
"""

import difflib
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql

from checkins import statements as checkins
from deals import statements as deals

GOLDEN = Path(__file__).resolve().parent.parent / "golden"

STATEMENTS = {
    "deals/take_units_and_record_commitment": deals.TAKE_UNITS_AND_RECORD_COMMITMENT,
    "deals/take_paid_units_and_record_commitment": deals.TAKE_PAID_UNITS_AND_RECORD_COMMITMENT,
    "deals/confirm_pending_commitments_and_issue_vouchers": deals.confirm_pending_commitments_and_issue_vouchers(
        uuid.UUID(int=1), datetime(2030, 1, 1, tzinfo=UTC), datetime(2029, 1, 1, tzinfo=UTC)
    ),
    "checkins/lock_account_and_find_venue": checkins.LOCK_ACCOUNT_AND_FIND_VENUE,
    "checkins/standing_in_running_programs": checkins.STANDING_IN_RUNNING_PROGRAMS,
    "checkins/insert_counted_checkin_and_lock_programs": checkins.INSERT_COUNTED_CHECKIN_AND_LOCK_PROGRAMS,
    "checkins/insert_refused_checkin": checkins.INSERT_REFUSED_CHECKIN,
    "checkins/mayor_and_rival_days": checkins.MAYOR_AND_RIVAL_DAYS,
    "checkins/make_account_mayor": checkins.MAKE_ACCOUNT_MAYOR,
    "checkins/swarm_members_in_window": checkins.SWARM_MEMBERS_IN_WINDOW,
    "checkins/take_and_grant_one_reward": checkins.TAKE_AND_GRANT_ONE_REWARD,
    "checkins/give_back_taken_reward": checkins.GIVE_BACK_TAKEN_REWARD,
    "checkins/rewards_already_given": checkins.REWARDS_ALREADY_GIVEN,
}


def compiled_sql(statement) -> str:
    """The statement as PostgreSQL receives it (bind parameters as placeholders)."""
    return str(statement.compile(dialect=postgresql.dialect())) + "\n"


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_a_hot_path_statement_compiles_to_its_golden_sql(name):
    path = GOLDEN / f"{name}.sql"
    actual = compiled_sql(STATEMENTS[name])
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        return
    expected = path.read_text() if path.exists() else ""
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"tests/golden/{name}.sql",
                tofile="compiled now",
            )
        )
        pytest.fail(
            f"{name} compiles to different SQL (UPDATE_GOLDEN=1 rewrites the file):\n{diff}",
            pytrace=False,
        )


def test_every_golden_file_belongs_to_a_statement():
    files = {str(path.relative_to(GOLDEN).with_suffix("")) for path in GOLDEN.rglob("*.sql")}
    assert files == set(STATEMENTS)
