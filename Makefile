# The README's two commands: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
export OMP_NUM_THREADS ?= 1
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: run test venv test-fast test-processes clean

$(STAMP): requirements.txt requirements.lock requirements-overrides.txt scripts/install_deps.sh backend/training/torch_build.py
	scripts/install_deps.sh $(VENV)
	touch $@

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	scripts/install_deps.sh $(VENV) --dev --system-browser --system-slurm
	touch $@

venv: $(STAMP)

## Start the app on the demo profile (builds the small models on first start).
run: $(STAMP)
	STUDIO_PROFILE=$${STUDIO_PROFILE:-demo} $(PY) app.py

## Run every test (unit, job lifecycle, API, browser, end to end).
test: $(DEV_STAMP)
	$(PY) -m pytest -q

test-fast: $(DEV_STAMP)
	$(PY) -m pytest -q -m "not slow"

## Only the tests that start real subprocesses (after a change to timing or waits).
test-processes: $(DEV_STAMP)
	$(PY) -m pytest -q -m processes

clean:
	rm -rf $(VENV) work .pytest_cache
