"""Referral credit: what sharers earn for the customers their links bring."""
