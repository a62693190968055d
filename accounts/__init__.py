"""Accounts, bearer tokens, roles and the auth decorator."""
