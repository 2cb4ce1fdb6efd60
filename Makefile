# Two entry points for a fresh machine with Python 3.11 and make:
#   make demo   set up, compile the example flow, run it through Airflow, print the Metaflow run
#   make test   set up, lint, type-check and run the test suite
PYTHON ?= python3.11
VENV ?= .venv
UV_VERSION := 0.13.9
BIN := $(VENV)/bin
export AWS_EC2_METADATA_DISABLED := true

.PHONY: install system-deps demo test test-all test-matrix lint typecheck unit compat benchmark clean \
	local-airflow local-airflow-status local-airflow-stop screenshots

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.installed: $(BIN)/uv pyproject.toml requirements/constraints.txt
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c requirements/constraints.txt -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python example_dags/run_demo.py

# A real Airflow in the background on loopback (api-server, scheduler, dag-processor, triggerer):
# prints the UI's URL and login. Its folder: LOCAL_AIRFLOW_HOME, default ~/.airflow-provider-metaflow/local.
LOCAL_AIRFLOW_HOME ?=
local_airflow = $(BIN)/airflow-metaflow-local $(1) $(if $(LOCAL_AIRFLOW_HOME),--home $(LOCAL_AIRFLOW_HOME))
local-airflow: install
	$(call local_airflow,start)
local-airflow-status: install
	$(call local_airflow,status)
local-airflow-stop: install
	$(call local_airflow,stop)

# The pictures in docs/images: a local Airflow in a temporary folder, the example flow deployed and
# run, its pages taken with headless Chromium (Debian's chromium package). Not part of make test.
screenshots: install
	@command -v chromium >/dev/null 2>&1 || apt-get install -y -q chromium >/dev/null \
		|| (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c requirements/constraints.txt -e ".[dev,docs]"
	$(BIN)/python docs/screenshots/take_screenshots.py

lint: install
	$(BIN)/ruff check airflow_provider_metaflow metaflow_extensions example_dags tests benchmarks
	$(BIN)/ruff format --check airflow_provider_metaflow metaflow_extensions

typecheck: install
	$(BIN)/mypy

# pytest exits 5 when it collected no tests: that is a failure here, never a pass.
define run_pytest
	$(1) -m pytest $(2); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$status
endef

# The many-workers tests run Celery with a real Redis broker: Debian's redis-server.
system-deps:
	@command -v redis-server >/dev/null 2>&1 || apt-get install -y -q redis-server >/dev/null \
		|| (apt-get update -q >/dev/null && apt-get install -y -q redis-server >/dev/null)

test: lint typecheck system-deps
	$(call run_pytest,$(BIN)/python,-q --durations=25 -m "not slow")

# Everything make test runs, and the slower tests whose behaviour make test covers with a faster one.
test-all: lint typecheck system-deps
	$(call run_pytest,$(BIN)/python,-q --durations=25)

# The whole generated flow-shape matrix (tests/matrix): every nesting of branch, foreach, switch and
# recursive switch up to depth 3, each run through Airflow and `python flow.py run` and compared.
# `make test` runs only its fast subset. Slow (most of an hour on 2 cores).
test-matrix: install
	$(call run_pytest,FLOW_MATRIX=full $(BIN)/python,-q -m matrix tests/matrix)

# The oldest supported Airflow minor: load every DAG and run one flow end to end.
COMPAT_VENV := .venv-airflow-3.1
compat: $(BIN)/uv
	test -x $(COMPAT_VENV)/bin/python || $(PYTHON) -m venv $(COMPAT_VENV)
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(COMPAT_VENV)/bin/python -c requirements/constraints-airflow-3.1.txt -r requirements/airflow-3.1.in -e .
	$(call run_pytest,$(COMPAT_VENV)/bin/python,-q -m compat)

benchmark: install
	$(BIN)/python benchmarks/parse_time.py

clean:
	rm -rf $(VENV) $(COMPAT_VENV)
