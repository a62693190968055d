"""Transactional outbox, in-app inbox and (later) push and webhook delivery."""
