# IVIG Tracker. The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      ?= .venv
PY        := $(VENV)/bin/python
# The first Python 3.11+ on the PATH builds the virtualenv.
PYTHON    ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
                 command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { command -v $$p; break; }; \
             done)
HOST      ?= 127.0.0.1
PORT      ?= 8000

.PHONY: help venv run test lint format lock vendor-js bench-vitals bench-sweep bench-dashboards bench-hl7 bench-bedside bench-soak clean

help:
	@echo "make run    build the virtualenv, migrate, load demo data, start web + Celery worker + beat"
	@echo "make test   run the whole test suite (PostgreSQL/Redis tests run when DATABASE_URL/CELERY_BROKER_URL point at them)"
	@echo "make venv   only build the virtualenv ($(VENV))"
	@echo "make lint   ruff check, ruff format --check, mypy and import-linter"

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is required (python3.11, python3.12 or python3.13 on the PATH)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

# make run: the embedded default (SQLite + Celery's filesystem broker) unless DATABASE_URL/CELERY_BROKER_URL are set.
run: export DJANGO_DEBUG ?= true
run: venv
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo_data
	@echo ""
	@echo "  IVIG Tracker is starting at http://$(HOST):$(PORT)/   (Ctrl-C stops web, worker and beat)"
	@echo "  API docs: http://$(HOST):$(PORT)/api/v1/docs/   Health: http://$(HOST):$(PORT)/healthz"
	@echo "  HL7 v2 (MLLP) listener on 127.0.0.1:$${HL7_PORT:-2575}   (README: Sending a lab result)"
	@echo ""
	HOST=$(HOST) PORT=$(PORT) $(VENV)/bin/honcho --procfile Procfile.dev start

test: venv
	$(VENV)/bin/pytest

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DJANGO_DEBUG=true $(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Regenerate the pinned lock files from requirements*.in (run after changing a direct dependency).
lock:
	rm -rf /tmp/ivig-lock-venv && $(PYTHON) -m venv /tmp/ivig-lock-venv
	/tmp/ivig-lock-venv/bin/pip install --quiet -r requirements.in
	{ echo "# Generated from requirements.in by 'make lock'. Do not edit by hand."; /tmp/ivig-lock-venv/bin/pip freeze --exclude pip; } > requirements.txt
	/tmp/ivig-lock-venv/bin/pip install --quiet -r requirements-dev.in
	{ echo "# Generated from requirements-dev.in by 'make lock'. Do not edit by hand."; /tmp/ivig-lock-venv/bin/pip freeze --exclude pip; } > requirements-dev.txt

# Re-vendor the front-end files from npm (scripts/vendor_js.py; needs npm). The copies are committed.
vendor-js:
	$(PYTHON) scripts/vendor_js.py

# Benchmarks print figures (benchmarks/README.md); they need the local PostgreSQL and Redis.
# Both phases: saturation (20 s per target in 4 rounds) then 25 s at a fixed 50 req/s; about 2 minutes.
bench-vitals: venv
	$(PY) benchmarks/vitals_api.py --phase all --seconds 20 --fixed-seconds 25 --rate 50

bench-sweep: venv
	$(PY) benchmarks/reminder_sweep.py

bench-dashboards: venv
	$(PY) benchmarks/dashboards.py

bench-hl7: venv
	$(PY) benchmarks/hl7_mllp.py

# Every process at once (gunicorn, two workers, beat, the HL7 listener) for 10 minutes at ten times a regional peak.
bench-soak: venv
	$(PY) benchmarks/soak.py --minutes 10

bench-bedside: venv
	$(PY) benchmarks/bedside_taps.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
