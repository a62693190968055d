# Schwarm developer tasks. `make run` serves the API + scheduler on a project-local
# PostGIS; `make test` runs the whole suite against it. See scripts/db.sh for the DB.
PYTHON ?= python3
VENV = .venv
LOCK = requirements.lock
PYTEST_ARGS ?=

SHELL := /bin/bash
DB := bash scripts/db.sh

.PHONY: venv lock lint format db migrate run test fuzz seed bench db-stop db-destroy db-url psql clean browser translations

venv: $(VENV)/.installed

# The venv installs the exact versions (and hashes) of requirements.lock, then this project
# itself without resolving anything again. The stamp carries the time the install *started*,
# so an edit of the lockfile or pyproject.toml made while pip runs still triggers a reinstall.
$(VENV)/.installed: $(LOCK) pyproject.toml
	@mkdir -p $(VENV) && touch $@.new
	$(PYTHON) -m venv $(VENV) || { echo 'make: could not create $(VENV); on Debian/Ubuntu: apt-get install python3-venv (or set PYTHON=...)' >&2; exit 1; }
	$(VENV)/bin/python -m pip install --require-hashes -r $(LOCK)
	$(VENV)/bin/python -m pip install --no-deps -e .
	mv $@.new $@

# Re-resolve requirements.lock from pyproject.toml (runtime and dev dependencies, with hashes).
# Existing pins are kept where they still fit; `make lock LOCK_ARGS=--upgrade` takes the newest.
lock: $(VENV)/.installed
	$(VENV)/bin/pip-compile --generate-hashes --extra dev --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links $(LOCK_ARGS) -o $(LOCK) pyproject.toml

# ruff: lint and the formatting check (`make format` rewrites the files).
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

db:
	$(DB) deps && $(DB) start

migrate: venv db
	DATABASE_URL=$${DATABASE_URL:-$$($(DB) url)} $(VENV)/bin/alembic upgrade head

run: venv db migrate
	bash scripts/serve.sh

# Debian's Chromium for the dashboard's browser tests (tests/browser/, Playwright drives it:
# Playwright's own browser download does not work here).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y --no-install-recommends chromium; }

# The dashboard's German: extract its strings, update web/translations/de/LC_MESSAGES/messages.po
# (api.po, the API's messages, is kept by hand), compile both to the committed .mo files.
translations: venv
	$(VENV)/bin/pybabel extract -F web/babel.cfg -k _l --no-location -o web/translations/messages.pot web >/dev/null
	$(VENV)/bin/pybabel update -i web/translations/messages.pot -d web/translations -D messages -w 100 --no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date
	rm web/translations/messages.pot
	$(VENV)/bin/pybabel compile -d web/translations -D messages
	$(VENV)/bin/pybabel compile -d web/translations -D api

test: venv lint db browser
	@if [ -n "$${TEST_DATABASE_URL:-}" ]; then url="$$TEST_DATABASE_URL"; \
	elif [ -n "$${DATABASE_URL:-}" ]; then url="$$DATABASE_URL"; \
	else url="$$($(DB) url schwarm_test)"; fi; \
	echo "TEST_DATABASE_URL=$$url $(VENV)/bin/pytest $(PYTEST_ARGS)"; \
	TEST_DATABASE_URL="$$url" $(VENV)/bin/pytest $(PYTEST_ARGS)

fuzz: venv db
	@url="$${TEST_DATABASE_URL:-$${DATABASE_URL:-$$($(DB) url schwarm_test)}}"; \
	TEST_DATABASE_URL="$$url" FUZZ_RANDOM=true FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200} $(VENV)/bin/pytest tests/fuzz $(PYTEST_ARGS)

# The bench data live in their own database (schwarm_bench): seeding empties its tables.
seed: venv db
	@url="$${DATABASE_URL:-$$($(DB) url schwarm_bench)}"; \
	DATABASE_URL="$$url" $(VENV)/bin/alembic upgrade head && \
	DATABASE_URL="$$url" $(VENV)/bin/python -m bench.seed $(SEED_ARGS)

bench: venv db
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y --no-install-recommends wrk; }
	DATABASE_URL="$${DATABASE_URL:-$$($(DB) url schwarm_bench)}" $(VENV)/bin/python -m bench.run $(BENCH_ARGS)

db-stop:
	$(DB) stop

db-destroy:
	$(DB) destroy

db-url:
	@$(DB) url

psql:
	$(DB) psql

clean:
	rm -rf $(VENV)
