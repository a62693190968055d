"""Check-ins, verification and reward programs."""
