"""No bind parameter of a statement can silently become a column the statement writes.

SQLAlchemy adds every execution parameter named like a column of an UPDATE's (or INSERT's)
table to its SET (or column list), CTEs included. So a statement whose bind parameter shares
its name with such a column would write it whenever it is executed.
"""

import pytest
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.base import Executable

from checkins import statements as checkin_statements
from deals import statements as deal_statements
from reviews import statements as review_statements
from social import statements as social_statements

STATEMENTS = {
    f"{module.__name__}.{name}": value
    for module in (deal_statements, checkin_statements, social_statements, review_statements)
    for name, value in vars(module).items()
    if name.isupper() and isinstance(value, Executable)
}


def test_the_statements_modules_hold_the_hot_path_statements():
    assert {
        "deals.statements.TAKE_UNITS_AND_RECORD_COMMITMENT",
        "checkins.statements.TAKE_AND_GRANT_ONE_REWARD",
    } <= set(STATEMENTS)


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_executing_a_statement_with_its_own_parameters_writes_no_other_column(name):
    statement = STATEMENTS[name]
    dialect = postgresql.dialect()
    plain = statement.compile(dialect=dialect)
    as_executed = statement.compile(dialect=dialect, column_keys=sorted(plain.binds))
    assert str(as_executed) == str(plain)
