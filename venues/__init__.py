"""Merchant venues: where deals run and check-ins happen."""
