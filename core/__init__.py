"""Cross-cutting infrastructure: config, database, errors, HTTP conventions, idempotency, scheduler."""
