"""Every reward-program kind the API and the database accept has exactly one evaluator."""

import re

from checkins.models import ProgramKind, RewardProgram
from checkins.rewards import REQUIRED_SETTINGS
from checkins.schemas import ProgramCreateSchema
from checkins.services import PROGRAM_EVALUATORS


def kinds_the_database_accepts() -> set[str]:
    (check,) = [
        constraint
        for constraint in RewardProgram.__table__.constraints
        if constraint.name == "ck_reward_programs_kind"
    ]
    return set(re.findall(r"'([a-z_]+)'", str(check.sqltext)))


def test_every_kind_the_api_accepts_has_an_evaluator_and_no_evaluator_lacks_a_kind():
    accepted = set(ProgramCreateSchema().fields["kind"].validate.choices)
    assert set(PROGRAM_EVALUATORS) == accepted == set(ProgramKind)


def test_every_kind_the_database_accepts_has_an_evaluator():
    assert set(PROGRAM_EVALUATORS) == kinds_the_database_accepts()


def test_every_evaluated_kind_declares_the_settings_it_needs():
    assert set(PROGRAM_EVALUATORS) == set(REQUIRED_SETTINGS)
