# predictive-yield: the two commands are `make run` and `make test`.
# Every target sets up what it needs (venv, connector jar, npm stand-ins).

PYTHON_SYS ?= python3
VENV       := .venv
PY         := $(VENV)/bin/python
JAR        := connector/target/yield-connectors-1.0.0.jar
JAVA_SRC   := $(shell find connector/src -type f 2>/dev/null)
NPM_STAMP  := local_kinesis/node_modules/.installed
VENV_STAMP := $(VENV)/.installed
BROWSER_STAMP := tests/browser/node_modules/.installed
CHROMIUM   ?= /usr/bin/chromium
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup venv jar npm browser run serve ab test test-unit test-all test-faults lint bench bench-feature-store \
        bench-floor-api standins-start \
        standins-stop clean package package-check train promote mlops-demo \
        cluster-start cluster-submit cluster-savepoint cluster-resume cluster-stop cluster-status monitoring

setup: venv jar npm

venv: $(VENV_STAMP)
$(VENV_STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

# Cached: rebuilt only when the pom, the connector sources or their tests change.
# Maven runs the connector's JUnit tests before it packages the jar.
jar: $(JAR)
$(JAR): connector/pom.xml $(JAVA_SRC) schemas/auction_event.schema.json
	@echo "building the connector jar with Maven, JUnit tests included (first time: a few minutes)"
	mvn -q -f connector/pom.xml package
	@touch $@

npm: $(NPM_STAMP)
$(NPM_STAMP): local_kinesis/package.json local_kinesis/package-lock.json
	npm ci --prefix local_kinesis --no-audit --no-fund --loglevel=error
	@touch $@

# The browser test's tools (tests/integration/test_prebid_browser.py): Debian's Chromium, installed when
# missing, and Prebid.js, esbuild and playwright-core pinned in tests/browser/package-lock.json.
browser: $(BROWSER_STAMP)
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the Prebid.js browser test"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }
$(BROWSER_STAMP): tests/browser/package.json tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
	@touch $@

# The demo: stand-ins, stream/bucket/table, simulated traffic, the real job, a summary.
run: setup
	$(PY) -m local_runs.demo $(ARGS)

# The floor API (serving/api.py) on http://127.0.0.1:8080 over the local floors table. The floors
# outlive `make run` only on stand-ins it did not start: `make standins-start`, `make run`, then this.
# A key: `$(PY) -m serving.keys add NAME` (settings: YIELD_API_* variables, docs/serving.md).
serve: venv
	$(PY) -m serving.api $(ARGS)

# Unit tests plus the end-to-end tests over the real stand-ins and the real job.
test: setup browser lint
	$(PY) -m pytest -m "not slow" $(ARGS)

# The unit tests alone (no stand-ins, no Flink job): under a minute.
test-unit: venv lint
	$(PY) -m pytest tests/unit $(ARGS)

# Everything, including long and heavy checks.
test-all: setup browser lint
	$(PY) -m pytest $(ARGS)

# The fault tests alone (duplicates, DynamoDB down, shard split, the KCL oracle): ~8 min.
test-faults: setup
	$(PY) -m pytest tests/integration/test_fault_proxy.py tests/integration/test_faults.py \
		tests/integration/test_kcl_oracle.py $(ARGS)

# The floor A/B: static, the brief's rule, the best global floor, the revenue policy (trained model,
# and fed the truth), the literal reading, the oracle; 7 days x 3 seeds plus a 3-day closed loop
# (10 min on 2 idle cores) -> bench/results/floor_ab.md + floor_ab.png. Quicker: make ab ARGS="--days 1 --seeds 1".
ab: venv
	$(PY) -m training.floor_ab run $(ARGS)

# All benchmarks (throughput, freshness, lookups, state, producers) -> bench/results/BENCHMARKS.md + charts.
bench: setup
	$(PY) -m bench.run_all $(ARGS)

# Online feature records/s from the job's writer to a Feature Store stand-in, with and without throttling.
bench-feature-store: setup
	$(PY) -m bench.feature_store_writes $(ARGS)

# The floor API under open-loop load (vegeta, built by `go install` into .local/bin on first use):
# single and batch predictions at fixed rates against a bare Starlette endpoint -> bench/results/floor_api_load.*
bench-floor-api: venv
	$(PY) -m bench.floor_api_load $(ARGS)

lint: venv
	$(VENV)/bin/ruff check .

standins-start: setup
	$(PY) -m local_kinesis.standins start

standins-stop: venv
	$(PY) -m local_kinesis.standins stop

clean:
	rm -rf .local deploy/target connector/target

# The MSF application zip (job sources + schemas + lib/<connector jar> + dep/, the workers' pip packages of
# deploy/requirements-msf.txt for MSF's Python 3.12): deploy/target/predictive-yield-msf.zip. The wheels and
# the installed dep/ are cached per machine (YIELD_BUILD_CACHE, default ~/.cache/predictive-yield): the first
# build downloads ~45 MB, later ones work offline.
package: jar venv
	$(PY) -m deploy.package_msf

# The zip's checks alone (also part of `make test`): its layout and pins, then the zip run by a Python 3.12
# venv holding only apache-flink, as MSF runs it (~1 min; the first time on a machine ~1 min more).
package-check: setup
	$(PY) -m pytest tests/unit/test_deploy.py tests/integration/test_msf_zip.py $(ARGS)

# A model version from the lake's feature history (models/production/challenger/<version>/),
# with its held-out metrics. A local lake without history first gets 4 simulated days.
# `make train ARGS="--promote"` also makes it current when it beats both baselines.
LAKE ?= file://$(CURDIR)/.local/lake
train: venv
	$(PY) -m training.train --lake $(LAKE) --backfill-if-empty 4 $(ARGS)

# Make a version current (the running job picks it up within Model.manifest.poll.interval):
# `make promote VERSION=<v>`; roll back with `make promote VERSION=<older v> ARGS="--from champion"`.
promote: venv
	$(PY) -m training.train promote --lake $(LAKE) --version $(VERSION) $(ARGS)

# The MLOps loop end to end on a fresh local lake (.local/mlops-demo/lake): simulated history with
# exploration floors, a first champion, a +40% tier-1 bid drift, the drift verdict, retraining on the
# recent window, the revenue gate, challenger, approval, promotion, a worse candidate refused, a
# rollback, and the decision log (training/mlops.py, docs/mlops.md; 636 s on 2 cores shared with other jobs).
mlops-demo: venv
	$(PY) -m training.mlops demo $(ARGS)

# A local Flink standalone cluster (JobManager + two TaskManagers, REST http://127.0.0.1:8181),
# files under .local/flink/. The job reads $$YIELD_PROPERTIES (default: the local properties).
PARALLELISM ?= 2
CLUSTER := $(PY) -m local_runs.cluster

cluster-start: setup
	$(CLUSTER) start

cluster-submit: setup
	$(CLUSTER) submit --parallelism $(PARALLELISM)

# Stop with a savepoint, not draining: open windows stay open and resume with the job.
cluster-savepoint: venv
	$(CLUSTER) savepoint

cluster-resume: setup
	@test -n "$(SAVEPOINT)" || { echo "usage: make cluster-resume SAVEPOINT=<path printed by cluster-savepoint> PARALLELISM=N"; exit 2; }
	$(CLUSTER) resume --savepoint $(SAVEPOINT) --parallelism $(PARALLELISM)

cluster-stop: venv
	$(CLUSTER) stop

cluster-status: venv
	$(CLUSTER) status

# The alarms and dashboard of deploy/cloudformation/yield-app.yaml, loaded into CloudWatch
# (locally the moto stand-in; start it first with `make standins-start`).
monitoring: venv
	$(PY) -m deploy.monitoring $(ARGS)
