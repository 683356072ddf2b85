# Attend — everyday commands. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: messages demo test test-postgres test-all lint format check-deploy migrations-check ci clean venv bench

# Reinstall only when the pinned dependencies change.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

## demo: install, migrate, load the demo practice, run web server + worker, print logins
demo: venv
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --reset --no-logins
	$(PY) manage.py rundemo --port $(PORT)

## test: the whole test suite (SQLite; set DATABASE_URL=postgres://… for PostgreSQL), on every core
# (pytest-xdist: each worker gets its own test database).
TEST_WORKERS ?= auto
test: venv
	$(PY) -m pytest -q -n $(TEST_WORKERS)

test-postgres: venv
	DATABASE_URL=$(PG_URL) $(PY) -m pytest -q

test-all: test test-postgres

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrations-check: venv
	$(PY) manage.py makemigrations --check --dry-run

# Production-shaped settings must pass Django's deployment checklist without warnings.
check-deploy: venv
	DJANGO_DEBUG=false DJANGO_ALLOWED_HOSTS=attend.example.org \
	DJANGO_SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))') \
	$(PY) manage.py check --deploy --fail-level WARNING

BENCH_URL ?= postgres://postgres@127.0.0.1:5432/attend_bench
BENCH ?= all

## bench: the reminder-engine benchmarks (#8) on a PostgreSQL database of their own (docs/benchmarks.md)
BENCH_DB = $(lastword $(subst /, ,$(BENCH_URL)))

bench: venv
	psql -h 127.0.0.1 -U postgres -tc "select 1 from pg_database where datname='$(BENCH_DB)'" | grep -q 1 \
	  || psql -h 127.0.0.1 -U postgres -c "create database $(BENCH_DB)"
	DATABASE_URL=$(BENCH_URL) $(PY) manage.py migrate --noinput
	DATABASE_URL=$(BENCH_URL) $(PY) -m tests.bench $(BENCH)

ci:
	bash .ci/run

clean:
	rm -rf $(VENV) staticfiles attend.sqlite3 attend.sqlite3-*

## messages: refresh the Spanish catalogue of the client pages from the code, then compile it
# (locale/es/LC_MESSAGES/django.po; the compiled .mo is committed so a fresh clone needs no gettext).
messages: venv
	$(PY) manage.py makemessages -l es --ignore=.venv --ignore=tests --ignore=staticfiles --no-obsolete --add-location=file
	$(PY) manage.py compilemessages -l es --ignore=.venv
