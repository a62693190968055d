"""Deals, commitments, vouchers and the deal sweeps."""
