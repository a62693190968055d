"""Errors of the accounts domain."""
from core.errors import Conflict


class EmailTaken(Conflict):
    code, title = "email-taken", "An account with this email exists"
