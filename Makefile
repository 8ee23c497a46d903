# predictive-yield: the two commands are `make run` and `make test`.
# Every target sets up what it needs (venv, connector jar, npm stand-ins).

PYTHON_SYS ?= python3
VENV       := .venv
PY         := $(VENV)/bin/python
JAR        := deploy/target/yield-connectors-1.0.0.jar
JAVA_SRC   := $(shell find deploy/connector/src/main -type f 2>/dev/null)
NPM_STAMP  := local_kinesis/node_modules/.installed
VENV_STAMP := $(VENV)/.installed

.PHONY: setup venv jar npm run test test-all lint bench standins-start standins-stop clean package monitoring

setup: venv jar npm

venv: $(VENV_STAMP)
$(VENV_STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

# Cached: rebuilt only when the pom or the connector sources change.
jar: $(JAR)
$(JAR): deploy/pom.xml $(JAVA_SRC)
	@echo "building the connector jar with Maven (first time: a few minutes)"
	mvn -q -f deploy/pom.xml -DskipTests package
	@touch $@

npm: $(NPM_STAMP)
$(NPM_STAMP): local_kinesis/package.json local_kinesis/package-lock.json
	npm ci --prefix local_kinesis --no-audit --no-fund --loglevel=error
	@touch $@

# The demo: stand-ins, stream/bucket/table, simulated traffic, the real job, a summary.
run: setup
	$(PY) -m flink_jobs.local_demo $(ARGS)

# Unit tests plus the end-to-end tests over the real stand-ins and the real job.
test: setup lint
	$(PY) -m pytest -m "not slow" $(ARGS)

# Everything, including long and heavy checks.
test-all: setup lint
	$(PY) -m pytest $(ARGS)

# Throughput of the full job against a bare parse-and-count job, same events, same run.
bench: setup
	$(PY) -m bench.job_throughput $(ARGS)

lint: venv
	$(VENV)/bin/ruff check .

standins-start: setup
	$(PY) -m local_kinesis.standins start

standins-stop: venv
	$(PY) -m local_kinesis.standins stop

clean:
	rm -rf .local deploy/target

# The MSF application zip (job sources + schemas + lib/<connector jar>): deploy/target/predictive-yield-msf.zip.
package: jar venv
	$(PY) deploy/package_msf.py

# The alarms and dashboard of deploy/cloudformation/yield-app.yaml, loaded into CloudWatch
# (locally the moto stand-in; start it first with `make standins-start`).
monitoring: venv
	$(PY) deploy/monitoring.py $(ARGS)
