"""Rescale the MSF application: check the new parallelism, snapshot, update, print before/after.

    python -m deploy.rescale predictive-yield --parallelism 16 [--parallelism-per-kpu 2]
    python -m deploy.rescale predictive-yield --kpus 12            # parallelism = 12 x per-KPU
    python -m deploy.rescale predictive-yield --parallelism 16 --dry-run
    python -m deploy.rescale --suggest-for-rate 5000    # parallelism and KPUs for a target rate
    python -m deploy.rescale --plan                     # the capacity plan of docs/capacity.md

MSF rules this tool holds the request to (Managed Service for Apache Flink developer guide,
"Implement application scaling", and the API's ParallelismConfiguration):
- KPUs allocated = Parallelism / ParallelismPerKPU, rounded up; one more KPU is billed for
  orchestration (not counted here).
- ParallelismPerKPU is 1..8; Parallelism is at least 1 and at most ParallelismPerKPU x the KPU
  quota (64 by default, raised by a limit increase: --kpu-limit).
- With AutoScalingEnabled, MSF moves CurrentParallelism between Parallelism and that ceiling.
Flink adds one: a restore fails above the job's max parallelism (the number of key groups,
`Job.max.parallelism`), which is fixed for the life of the application.

Exit codes: 0 done (or dry run with nothing refused), 2 refused, 3 AWS or endpoint failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from botocore.validate import ParamValidator

from flink_jobs.config import LOCAL_PROPERTIES, load_config
from udfs.aws import aws_client

MAX_PARALLELISM_PER_KPU = 8
DEFAULT_KPU_LIMIT = 64
UPDATABLE_STATUSES = ("RUNNING", "READY")

Printer = Callable[[str], None]


class RescaleError(Exception):
    """The rescale was refused before anything was changed (exit 2)."""


class EndpointError(Exception):
    """AWS (or the stand-in) failed a call (exit 3); the message names the operation."""


@dataclass(frozen=True)
class RescaleRequest:
    parallelism: int | None = None
    parallelism_per_kpu: int | None = None
    kpus: int | None = None
    autoscaling: bool | None = None  # None: keep the application's setting
    kpu_limit: int = DEFAULT_KPU_LIMIT


@dataclass(frozen=True)
class Current:
    """What DescribeApplication says, reduced to what a rescale needs."""

    name: str
    status: str
    version_id: int
    runtime: str
    configuration_type: str
    parallelism: int
    parallelism_per_kpu: int
    current_parallelism: int
    autoscaling: bool
    snapshots_enabled: bool
    max_parallelism: int
    max_parallelism_source: str


@dataclass
class Plan:
    current: Current
    parallelism: int
    parallelism_per_kpu: int
    autoscaling: bool
    take_snapshot: bool
    snapshot_name: str
    problems: list[str] = field(default_factory=list)

    @property
    def kpus(self) -> int:
        return kpus_for(self.parallelism, self.parallelism_per_kpu)

    def update_request(self) -> dict[str, Any]:
        return {
            "ApplicationName": self.current.name,
            # Optimistic locking: MSF refuses the update if someone changed the app since we read it.
            "CurrentApplicationVersionId": self.current.version_id,
            "ApplicationConfigurationUpdate": {
                "FlinkApplicationConfigurationUpdate": {
                    "ParallelismConfigurationUpdate": {
                        # CUSTOM: MSF ignores Parallelism/ParallelismPerKPU under DEFAULT.
                        "ConfigurationTypeUpdate": "CUSTOM",
                        "ParallelismUpdate": self.parallelism,
                        "ParallelismPerKPUUpdate": self.parallelism_per_kpu,
                        "AutoScalingEnabledUpdate": self.autoscaling,
                    }
                }
            },
            # The restart restores the state (windows, dedup, shard positions) at the new parallelism.
            "RunConfigurationUpdate": {
                "ApplicationRestoreConfiguration": {"ApplicationRestoreType": "RESTORE_FROM_LATEST_SNAPSHOT"}
            },
        }

    def snapshot_request(self) -> dict[str, Any]:
        return {"ApplicationName": self.current.name, "SnapshotName": self.snapshot_name}


def kpus_for(parallelism: int, parallelism_per_kpu: int) -> int:
    """KPUs MSF allocates for the task managers (the orchestration KPU comes on top)."""
    return math.ceil(parallelism / parallelism_per_kpu)


# ------------------------------------------------------------------------------ capacity

# The full job's steady-state events per CPU second on RocksDB (MSF's state backend) with 256 MB of
# managed memory per slot, JVM and Python workers together: what one fully busy vCPU processes.
# `python -m bench.job_throughput --events 2000000 --repeat 2 --rocksdb` (docs/capacity.md): 34,334
# and 35,632 in its two runs; the lower one. A KPU is one vCPU.
MEASURED_EVENTS_PER_CPU_S = 34_334.0
# The busy share of each vCPU at the target rate: the rest is headroom for catch-up, checkpoints,
# RocksDB compactions and bursts.
TARGET_UTILISATION = 0.6
# MSF, per KPU-hour in USD: the pricing page's example price (US East, N. Virginia); docs/capacity.md
# says where it comes from and why eu-west-1 is taken at the same rate until the page is read.
PRICE_PER_KPU_HOUR_USD = 0.11
HOURS_PER_MONTH = 730
# The requirements (BRIEF.md): 50M events/day, peaks of 5,000/s, 100 shards.
DAILY_EVENTS = 50_000_000
PEAK_RATE = 5_000.0
SHARDS = 100
# State, from `python -m bench.savepoint_state` (bench/results/BENCHMARKS.md section 4, RocksDB):
# dedup keeps every distinct impression id for Job.dedup.ttl (1 h).
DEDUP_MB_PER_MILLION_CHECKPOINT = 36.0  # RocksDB's own format (what sits on the KPU's disk)
DEDUP_MB_PER_MILLION_SAVEPOINT = 72.0  # canonical savepoint (what a rescale writes and reads)
DEDUP_TTL_H = 1.0


def kpus_for_rate(target_rate: float, events_per_cpu_s: float = MEASURED_EVENTS_PER_CPU_S,
                  utilisation: float = TARGET_UTILISATION) -> int:
    """KPUs (one vCPU each) that process `target_rate` events/s with each vCPU `utilisation` busy."""
    if target_rate <= 0 or events_per_cpu_s <= 0 or not 0 < utilisation <= 1:
        raise ValueError(f"need a positive rate and figure and 0 < utilisation <= 1, got "
                         f"{target_rate}, {events_per_cpu_s}, {utilisation}")
    return max(1, math.ceil(target_rate / (events_per_cpu_s * utilisation)))


def suggest_parallelism(target_rate: float, events_per_cpu_s: float = MEASURED_EVENTS_PER_CPU_S,
                        utilisation: float = TARGET_UTILISATION, parallelism_per_kpu: int = 1,
                        max_parallelism: int | None = None) -> int:
    """The Parallelism for `target_rate` events/s: the KPUs it needs times the slots per KPU.

    Slots on one KPU share its vCPU, so the rate sets the KPUs and ParallelismPerKPU only multiplies
    the parallelism. Refused (ValueError) above the job's max parallelism (key groups; a restore
    would fail); above the shard count the extra source subtasks would idle, which is allowed
    (the other operators still use them) but not useful for the source.
    """
    if not 1 <= parallelism_per_kpu <= MAX_PARALLELISM_PER_KPU:
        raise ValueError(f"parallelism per KPU must be 1..{MAX_PARALLELISM_PER_KPU}, got {parallelism_per_kpu}")
    parallelism = kpus_for_rate(target_rate, events_per_cpu_s, utilisation) * parallelism_per_kpu
    if max_parallelism is not None and parallelism > max_parallelism:
        raise ValueError(f"{target_rate:,.0f} events/s needs parallelism {parallelism}, above the job's max "
                         f"parallelism {max_parallelism}")
    return parallelism


def catch_up_hours(backlog_events: float, incoming_rate: float, kpus: int,
                   events_per_cpu_s: float = MEASURED_EVENTS_PER_CPU_S) -> float:
    """Hours to clear a backlog while traffic keeps arriving, every vCPU fully busy (inf: never)."""
    spare = kpus * events_per_cpu_s - incoming_rate
    return math.inf if spare <= 0 else backlog_events / spare / 3600


def monthly_cost(kpus: int, price_per_kpu_hour: float = PRICE_PER_KPU_HOUR_USD) -> float:
    """KPU-hours of a month, the orchestration KPU MSF bills per application included."""
    return (kpus + 1) * price_per_kpu_hour * HOURS_PER_MONTH


def capacity_plan(events_per_cpu_s: float = MEASURED_EVENTS_PER_CPU_S, utilisation: float = TARGET_UTILISATION,
                  price_per_kpu_hour: float = PRICE_PER_KPU_HOUR_USD) -> list[tuple[str, str]]:
    """(figure, value) rows of docs/capacity.md, from the measured rate and the requirements."""
    average = DAILY_EVENTS / 86_400
    kpus = kpus_for_rate(PEAK_RATE, events_per_cpu_s, utilisation)
    rows = [
        ("measured: full job, events per CPU second (one vCPU = one KPU)", f"{events_per_cpu_s:,.0f}"),
        ("target busy share of each vCPU at the peak", f"{utilisation:.0%}"),
        ("average rate (50M events/day)", f"{average:,.0f} events/s"),
        ("peak rate", f"{PEAK_RATE:,.0f} events/s"),
        ("vCPUs busy at the average / at the peak", f"{average / events_per_cpu_s:.2f} / "
                                                   f"{PEAK_RATE / events_per_cpu_s:.2f}"),
        ("KPUs for the peak at the target busy share", f"{kpus} (Parallelism {kpus}, ParallelismPerKPU 1)"),
        ("capacity of those KPUs, every vCPU busy", f"{kpus * events_per_cpu_s:,.0f} events/s"),
    ]
    for label, rate in (("average", average), ("peak", PEAK_RATE)):
        backlog = rate * 3600
        minutes = catch_up_hours(backlog, rate, kpus, events_per_cpu_s) * 60
        rows.append((f"1-hour backlog at the {label} rate ({backlog / 1e6:.1f}M events), traffic continuing at "
                     f"the {label} rate: cleared in", f"{minutes:.0f} min"))
    rows += [
        ("shards per source subtask at that parallelism", f"{SHARDS / kpus:.0f} (100 shards)"),
        ("the requirements' estimate", "4 KPUs, 327 EUR/month"),
    ]
    for n in sorted({kpus, 2, 4}):
        minutes = catch_up_hours(PEAK_RATE * 3600, PEAK_RATE, n, events_per_cpu_s) * 60
        cost = monthly_cost(n, price_per_kpu_hour)
        rows.append((f"{n} KPU(s): capacity / peak backlog cleared in / monthly cost ({n} + 1 orchestration KPU, "
                     f"{HOURS_PER_MONTH} h at ${price_per_kpu_hour}/KPU-hour)",
                     f"{n * events_per_cpu_s:,.0f} events/s / {minutes:.0f} min / ${cost:,.0f}"))
    for label, rate in (("average", average), ("peak", PEAK_RATE)):
        ids = rate * 3600 * DEDUP_TTL_H / 1e6
        checkpoint, savepoint = ids * DEDUP_MB_PER_MILLION_CHECKPOINT, ids * DEDUP_MB_PER_MILLION_SAVEPOINT
        rows.append((f"dedup state at the {label} rate ({ids:.1f}M ids in {DEDUP_TTL_H:g} h): checkpoint / savepoint",
                     f"{checkpoint:,.0f} MB / {savepoint:,.0f} MB"))
    return rows


def job_default_max_parallelism() -> int:
    """The job's own default, asked from flink_jobs.config rather than repeated here: the local
    properties with Job.max.parallelism removed, loaded by the job's loader."""
    groups = json.loads(LOCAL_PROPERTIES.read_text(encoding="utf-8"))
    for group in groups:
        if group["PropertyGroupId"] == "Job":
            group["PropertyMap"].pop("max.parallelism", None)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "application_properties.json"
        path.write_text(json.dumps(groups), encoding="utf-8")
        return load_config(path, cwd=Path(tmp)).job.max_parallelism


def read_current(detail: dict[str, Any], name: str) -> Current:
    config = detail.get("ApplicationConfigurationDescription", {})
    flink = config.get("FlinkApplicationConfigurationDescription", {})
    par = flink.get("ParallelismConfigurationDescription", {})
    groups = config.get("EnvironmentPropertyDescriptions", {}).get("PropertyGroupDescriptions", [])
    job = next((g["PropertyMap"] for g in groups if g["PropertyGroupId"] == "Job"), {})
    raw = job.get("max.parallelism")
    if raw is None:
        max_parallelism, source = job_default_max_parallelism(), "the job's default (flink_jobs.config)"
    else:
        try:
            max_parallelism = int(raw)
        except ValueError as err:
            raise RescaleError(f"runtime property Job.max.parallelism = {raw!r} is not an integer") from err
        source = "runtime property Job.max.parallelism"
    parallelism = int(par.get("Parallelism", 1))
    return Current(
        name=detail.get("ApplicationName", name),  # moto leaves it out
        status=detail["ApplicationStatus"],
        version_id=int(detail["ApplicationVersionId"]),
        runtime=detail.get("RuntimeEnvironment", "?"),
        configuration_type=par.get("ConfigurationType", "DEFAULT"),
        parallelism=parallelism,
        parallelism_per_kpu=int(par.get("ParallelismPerKPU", 1)),
        current_parallelism=int(par.get("CurrentParallelism", parallelism)),
        autoscaling=bool(par.get("AutoScalingEnabled", False)),
        snapshots_enabled=bool(
            config.get("ApplicationSnapshotConfigurationDescription", {}).get("SnapshotsEnabled", False)
        ),
        max_parallelism=max_parallelism,
        max_parallelism_source=source,
    )


def plan_rescale(current: Current, request: RescaleRequest, *, snapshot: bool, now: dt.datetime) -> Plan:
    """The target settings and every reason to refuse them (all at once, so one run shows all)."""
    problems: list[str] = []
    for option, value in (("--parallelism", request.parallelism),
                          ("--parallelism-per-kpu", request.parallelism_per_kpu),
                          ("--kpus", request.kpus), ("--kpu-limit", request.kpu_limit)):
        if value is not None and value <= 0:
            problems.append(f"{option} {value}: must be a positive integer")
    per_kpu = request.parallelism_per_kpu or current.parallelism_per_kpu
    if request.parallelism is not None:
        parallelism = request.parallelism
    elif request.kpus is not None:
        parallelism = request.kpus * per_kpu  # fill the KPUs asked for
    else:
        parallelism = current.parallelism
    if request.parallelism is None and request.kpus is None and request.parallelism_per_kpu is None \
            and request.autoscaling is None:
        problems.append("nothing to change: give --parallelism, --kpus, --parallelism-per-kpu or --autoscaling")

    if not 1 <= per_kpu <= MAX_PARALLELISM_PER_KPU:
        problems.append(f"--parallelism-per-kpu {per_kpu}: MSF allows 1..{MAX_PARALLELISM_PER_KPU} (ParallelismPerKPU)")
    if parallelism > current.max_parallelism:
        problems.append(
            f"--parallelism {parallelism}: above the job's max parallelism {current.max_parallelism} "
            f"({current.max_parallelism_source}); the restore would fail (key groups are fixed)"
        )
    if per_kpu > 0 and parallelism > 0:
        if request.kpus is not None and request.kpus > 0 and request.parallelism is not None:
            # Both given: they must agree with MSF's own rule, or the bill differs from the intent.
            if parallelism > request.kpus * per_kpu:
                problems.append(
                    f"--parallelism {parallelism}: above --kpus {request.kpus} x --parallelism-per-kpu "
                    f"{per_kpu} = {request.kpus * per_kpu}"
                )
            elif kpus_for(parallelism, per_kpu) != request.kpus:
                problems.append(
                    f"--kpus {request.kpus}: MSF allocates ceil({parallelism} / {per_kpu}) = "
                    f"{kpus_for(parallelism, per_kpu)} KPUs for parallelism {parallelism}"
                )
        if request.kpu_limit > 0 and parallelism > request.kpu_limit * per_kpu:
            problems.append(
                f"--parallelism {parallelism}: above the KPU quota {request.kpu_limit} x "
                f"--parallelism-per-kpu {per_kpu} = {request.kpu_limit * per_kpu} (ask AWS for a "
                "limit increase, then pass --kpu-limit)"
            )

    autoscaling = current.autoscaling if request.autoscaling is None else request.autoscaling
    if current.status not in UPDATABLE_STATUSES:
        problems.append(
            f"application status {current.status}: a rescale needs {' or '.join(UPDATABLE_STATUSES)} "
            "(wait for the current operation to finish)"
        )
    if not current.snapshots_enabled:
        # The restart would restore an older snapshot, or none: state lost or rewound.
        problems.append("ApplicationSnapshotConfiguration.SnapshotsEnabled is false: enable snapshots first")
    # A snapshot can only be taken of a running job; a READY application restores its last one.
    take_snapshot = snapshot and current.status == "RUNNING"
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return Plan(current, parallelism, per_kpu, autoscaling, take_snapshot,
                f"rescale-{stamp}-p{current.parallelism}-to-p{parallelism}", problems)


def validated(client: Any, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """Checks the request against botocore's model first, so a bad request never half-runs."""
    shape = client.meta.service_model.operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        raise RescaleError(f"{operation} request is invalid: {report.generate_report()}")
    return params


def call(client: Any, operation: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """One validated call; failures become an EndpointError naming the operation."""
    try:
        return getattr(client, method)(**validated(client, operation, params))
    except ClientError as err:
        error = err.response.get("Error", {})
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status in (500, 501) and "<html" in str(error.get("Message", "")).lower():
            # moto answers an operation it does not implement with a bare HTML 500.
            raise EndpointError(f"{operation}: the endpoint does not implement it (HTTP {status})") from err
        raise EndpointError(f"{operation}: {error.get('Code')}: {error.get('Message')}") from err


def wait_for_snapshot(client: Any, plan: Plan, *, timeout_s: float, poll_s: float, out: Printer) -> None:
    deadline = time.monotonic() + timeout_s
    started = time.monotonic()
    while True:
        detail = call(client, "DescribeApplicationSnapshot", "describe_application_snapshot",
                      plan.snapshot_request())["SnapshotDetails"]
        status = detail["SnapshotStatus"]
        out(f"  snapshot {plan.snapshot_name}: {status} ({time.monotonic() - started:.0f} s)")
        if status == "READY":
            return
        if status in ("FAILED", "DELETING"):
            raise EndpointError(f"snapshot {plan.snapshot_name} is {status}: nothing was changed")
        if time.monotonic() >= deadline:
            raise EndpointError(
                f"snapshot {plan.snapshot_name} not READY after {timeout_s:.0f} s (still {status}): "
                "nothing was changed; rerun when it is, or raise --snapshot-timeout"
            )
        time.sleep(poll_s)


def describe(client: Any, name: str) -> dict[str, Any]:
    return call(client, "DescribeApplication", "describe_application", {"ApplicationName": name})[
        "ApplicationDetail"
    ]


def rescale(
    client: Any,
    name: str,
    request: RescaleRequest,
    *,
    snapshot: bool = True,
    dry_run: bool = False,
    snapshot_timeout_s: float = 900.0,
    poll_s: float = 10.0,
    out: Printer = print,
) -> Plan:
    """Rescales application ``name``; returns the plan. Raises RescaleError before changing
    anything when a setting is impossible, EndpointError when AWS fails a call."""
    current = read_current(describe(client, name), name)
    plan = plan_rescale(current, request, snapshot=snapshot, now=dt.datetime.now(dt.UTC))
    out(f"{name} ({current.runtime}, {current.status}, version {current.version_id}; max parallelism "
        f"{current.max_parallelism} from {current.max_parallelism_source})")
    out(f"  before: parallelism {current.parallelism} (current {current.current_parallelism}), "
        f"{current.parallelism_per_kpu} per KPU, {kpus_for(current.parallelism, current.parallelism_per_kpu)} "
        f"KPUs, autoscaling {'on' if current.autoscaling else 'off'}")
    out(f"  target: parallelism {plan.parallelism}, {plan.parallelism_per_kpu} per KPU, {plan.kpus} KPUs, "
        f"autoscaling {'on' if plan.autoscaling else 'off'}")
    if plan.problems:
        raise RescaleError("refused, nothing changed:\n" + "\n".join(f"  - {p}" for p in plan.problems))
    # Validate both requests before sending either (dry runs too): no half-done rescale.
    update = validated(client, "UpdateApplication", plan.update_request())
    if plan.take_snapshot:
        validated(client, "CreateApplicationSnapshot", plan.snapshot_request())
    snap = f"snapshot {plan.snapshot_name}" if plan.take_snapshot else "no new snapshot"
    if dry_run:
        out(f"dry run: would take {snap}, then UpdateApplication (restore from latest snapshot)")
        return plan
    if plan.take_snapshot:
        out(f"taking {snap}")
        call(client, "CreateApplicationSnapshot", "create_application_snapshot", plan.snapshot_request())
        wait_for_snapshot(client, plan, timeout_s=snapshot_timeout_s, poll_s=poll_s, out=out)
    after = call(client, "UpdateApplication", "update_application", update)["ApplicationDetail"]
    new = read_current(after, name)
    out(f"  after: parallelism {current.parallelism} -> {new.parallelism}, KPUs "
        f"{kpus_for(current.parallelism, current.parallelism_per_kpu)} -> "
        f"{kpus_for(new.parallelism, new.parallelism_per_kpu)}, version {current.version_id} -> "
        f"{new.version_id}, status {new.status}")
    out("  check that the falling-behind alarm clears and the job's restarts stop")
    return plan


def main(argv: Sequence[str] | None = None, out: Printer = print) -> int:
    parser = argparse.ArgumentParser(description="Rescale the MSF application (snapshot, then update).")
    parser.add_argument("application", nargs="?", help="MSF application name, e.g. predictive-yield")
    parser.add_argument("--suggest-for-rate", type=float, metavar="EVENTS_PER_S",
                        help="print the Parallelism and KPUs for this steady rate (from the measured rate per "
                             "vCPU) and exit; nothing is read or changed")
    parser.add_argument("--plan", action="store_true", help="print the capacity plan (docs/capacity.md) and exit")
    parser.add_argument("--events-per-cpu-s", type=float, default=MEASURED_EVENTS_PER_CPU_S,
                        help=f"the full job's events per CPU second (default {MEASURED_EVENTS_PER_CPU_S:,.0f}, "
                             "bench.job_throughput)")
    parser.add_argument("--utilisation", type=float, default=TARGET_UTILISATION,
                        help=f"busy share of each vCPU at that rate (default {TARGET_UTILISATION})")
    parser.add_argument("--parallelism", type=int, help="new Parallelism")
    parser.add_argument("--parallelism-per-kpu", type=int, help="new ParallelismPerKPU (1..8)")
    parser.add_argument("--kpus", type=int,
                        help="KPUs wanted; alone it sets parallelism = KPUs x per-KPU, with --parallelism "
                             "it must match ceil(parallelism / per-KPU)")
    parser.add_argument("--autoscaling", choices=("on", "off"), help="default: keep as is")
    parser.add_argument("--kpu-limit", type=int, default=DEFAULT_KPU_LIMIT,
                        help=f"the account's KPU quota for the application (default {DEFAULT_KPU_LIMIT})")
    parser.add_argument("--no-snapshot", action="store_true",
                        help="skip the named snapshot (MSF still snapshots when it stops a running app)")
    parser.add_argument("--snapshot-timeout", type=float, default=900.0, help="seconds (default 900)")
    parser.add_argument("--region", default=None, help="default: the AWS CLI profile's region")
    parser.add_argument("--endpoint", default=None, help="a stand-in endpoint (moto), e.g. http://127.0.0.1:5055")
    parser.add_argument("--dry-run", action="store_true", help="read and check only")
    args = parser.parse_args(argv)

    if args.plan:
        for figure, value in capacity_plan(args.events_per_cpu_s, args.utilisation):
            out(f"{figure}: {value}")
        return 0
    if args.suggest_for_rate is not None:
        per_kpu = args.parallelism_per_kpu or 1
        try:
            parallelism = suggest_parallelism(args.suggest_for_rate, args.events_per_cpu_s, args.utilisation,
                                              per_kpu, job_default_max_parallelism())
        except ValueError as err:
            out(str(err))
            return 2
        kpus = kpus_for(parallelism, per_kpu)
        out(f"{args.suggest_for_rate:,.0f} events/s at {args.utilisation:.0%} of {args.events_per_cpu_s:,.0f} "
            f"events per vCPU-second: --parallelism {parallelism} --parallelism-per-kpu {per_kpu} "
            f"({kpus} KPUs + 1 orchestration, ${monthly_cost(kpus):,.0f}/month)")
        return 0
    if args.application is None:
        parser.error("the application name is required (except with --plan or --suggest-for-rate)")

    region = args.region
    if region is None:
        import boto3  # only for the profile's default region

        region = boto3.session.Session().region_name
        if region is None:
            parser.error("no region: pass --region or configure one in the AWS CLI profile")
    client = aws_client("kinesisanalyticsv2", args.endpoint, region)
    request = RescaleRequest(
        parallelism=args.parallelism,
        parallelism_per_kpu=args.parallelism_per_kpu,
        kpus=args.kpus,
        autoscaling=None if args.autoscaling is None else args.autoscaling == "on",
        kpu_limit=args.kpu_limit,
    )
    try:
        rescale(client, args.application, request, snapshot=not args.no_snapshot, dry_run=args.dry_run,
                snapshot_timeout_s=args.snapshot_timeout, out=out)
    except RescaleError as err:
        out(str(err))
        return 2
    except EndpointError as err:
        out(f"failed: {err}")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
