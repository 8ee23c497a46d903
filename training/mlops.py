"""The MLOps loop's steps: drift check, retraining, the revenue gate, challenger, approval,
promotion, rollback. Each is one command, run locally by hand or by `make mlops-demo`, and on AWS
by the Step Functions state machine of deploy/cloudformation/mlops.yaml (an ECS task per step,
the container command `python -m training.mlops <step>`).

    python -m training.mlops check-drift [--lookback-hours 6]
    python -m training.mlops retrain     [--days 3] [--eval-days 1] [--version V]
    python -m training.mlops evaluate    --version V
    python -m training.mlops challenger  --version V
    python -m training.mlops approve     --version V --by WHO [--note TEXT] [--task-token T]
    python -m training.mlops promote     --version V [--require-approval]
    python -m training.mlops rollback    [--by WHO] [--note TEXT]
    python -m training.mlops status
    python -m training.mlops demo        (what `make mlops-demo` runs: the loop on a simulated local lake)

Every command takes `--lake URI` (default $YIELD_LAKE). Every decision goes to the registry's
decision log (training/registry.py) with its reason. The result of a step is printed as one JSON
object on stdout, and written to `--result-uri` (default, when $MLOPS_RUN_ID is set: the lake's
models/registry/runs/<run id>/<step>.json, which the state machine reads back).

Exit codes: 0 done, 3 refused (the gate refused the candidate, or promotion lacks the gate's pass
or a required approval), 2 error (a missing or invalid lake, version, manifest or entry; the
message names it).

Drift decision (check-drift), from the drift records the job writes (outputs/monitoring/drift/,
one row per feature and window with the window's `global_level`): the highest window level of the
last `--lookback-hours` (counted back from the latest record), among the windows measured against
the current champion's baseline. CRITICAL (the seed: score > 0.7; or the calibrated CRITICAL
threshold) retrains now; WARNING (> 0.5; or calibrated WARNING) schedules a retraining for the
next off-peak hour (`--schedule-hour`, UTC), which a later check-drift turns into "retrain" once
that hour has passed; anything else is "none".
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from training import lake, registry, train
from udfs import model_store
from udfs.drift_thresholds import SEVERITY, highest_level

LAKE_ENV = "YIELD_LAKE"
RUN_ID_ENV = "MLOPS_RUN_ID"
VERSION_ENV = "MLOPS_VERSION"
REQUIRE_APPROVAL_ENV = "MLOPS_REQUIRE_APPROVAL"
RUNS_PREFIX = f"{registry.REGISTRY_PREFIX}/runs"
RETRAIN_LEVEL, SCHEDULE_LEVEL = "CRITICAL", "WARNING"
DEFAULT_LOOKBACK_HOURS = 6.0
DEFAULT_SCHEDULE_HOUR = 3  # UTC: the traffic's trough (simulator.market TRAFFIC_SHAPE)
DEFAULT_RECENT_DAYS = 3.0
DEFAULT_EVAL_DAYS = 1

OK, ERROR, REFUSED = 0, 2, 3


class StepError(RuntimeError):
    """A step cannot run: the message names what is missing or wrong (exit 2)."""


@dataclass
class StepResult:
    step: str
    outcome: str
    reason: str
    version: str | None = None
    details: dict | None = None
    exit_code: int = OK

    def as_dict(self) -> dict:
        return {"step": self.step, "outcome": self.outcome, "reason": self.reason, "version": self.version,
                "exit_code": self.exit_code, **(self.details or {})}


def progress(message: str) -> None:
    print(f"[mlops {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


# --------------------------------------------------------------------------- check-drift


def drift_windows(lake_uri: str) -> pd.DataFrame:
    """One row per window of the drift records: window_start, window_end, global_level,
    global_score, baseline_version (empty when the job has written none yet)."""
    cols = ["window_start", "window_end", "global_level", "global_score", "baseline_version"]
    records = lake.read(lake_uri, "drift", cols)
    if records.empty:
        return pd.DataFrame(columns=cols)
    for c in ("window_start", "window_end"):
        records[c] = pd.to_datetime(records[c])
    return records.drop_duplicates(["window_start", "baseline_version"], keep="last").sort_values(
        "window_start").reset_index(drop=True)


def level_decision(level: str | None) -> str:
    """retrain for the retrain level, schedule for the schedule level, else none."""
    if level == RETRAIN_LEVEL:
        return "retrain"
    if level == SCHEDULE_LEVEL:
        return "schedule"
    return "none"


def next_off_peak(wall: datetime, hour: int) -> datetime:
    due = wall.replace(hour=hour, minute=0, second=0, microsecond=0)
    return due if due > wall else due + timedelta(days=1)


def pending_schedule(log: list[dict]) -> dict | None:
    """The latest "schedule" decision of check-drift not followed by a retraining."""
    pending = None
    for record in log:
        if record["action"] == "check-drift" and record["outcome"] == "schedule":
            pending = pending or record
        elif record["action"] == "retrain" and record["outcome"] == "candidate":
            pending = None
    return pending


def check_drift(lake_uri: str, lookback_hours: float = DEFAULT_LOOKBACK_HOURS,
                schedule_hour: int = DEFAULT_SCHEDULE_HOUR, wall: datetime | None = None) -> StepResult:
    wall = wall or datetime.now(UTC)
    windows = drift_windows(lake_uri)
    champion = model_store.current_model(lake_uri)
    details: dict = {"champion": champion.version if champion else None, "lookback_hours": lookback_hours}
    if windows.empty:
        level, why = None, f"no drift records under {lake.path(lake_uri, 'drift')}"
    else:
        end = windows["window_end"].max()
        recent = windows[windows["window_end"] > end - pd.Timedelta(hours=lookback_hours)]
        ignored = 0
        if champion is not None:
            mine = recent[recent["baseline_version"] == champion.version]
            ignored, recent = len(recent) - len(mine), mine
        levels = [lv for lv in recent["global_level"] if lv in SEVERITY]
        level = highest_level(levels)
        counts = recent["global_level"].value_counts().to_dict()
        span = f"{len(recent)} window(s) ending {end:%Y-%m-%d %H:%M}"
        why = f"{span}: levels {dict(sorted(counts.items()))}"
        if ignored:
            why += f"; {ignored} window(s) of another baseline than the champion's ignored"
        top = recent[recent["global_level"] == level] if level else recent.iloc[0:0]
        if not top.empty:
            first = top.iloc[0]
            why += f"; first {level} window {first['window_start']:%Y-%m-%d %H:%M} (score {first['global_score']:.3f})"
        details |= {"windows": len(recent), "levels": counts, "latest_window_end": str(end)}
    decision = level_decision(level)
    details |= {"level": level or "NONE", "decision": decision}
    pending = pending_schedule(registry.decisions(lake_uri))
    if decision != "retrain" and pending is not None:
        due = datetime.fromisoformat(pending["details"]["due"])
        if due <= wall:
            decision = "retrain"
            why = f"the retraining scheduled at {pending['at'][:19]} is due ({due:%Y-%m-%d %H:%M}); {why}"
        else:
            decision, why = "none", f"a retraining is already scheduled for {due:%Y-%m-%d %H:%M}; {why}"
        details |= {"decision": decision, "due": due.isoformat()}
    elif decision == "schedule":
        due = next_off_peak(wall, schedule_hour)
        details["due"] = due.isoformat()
        why = f"{SCHEDULE_LEVEL}: retraining scheduled for {due:%Y-%m-%d %H:%M} UTC; {why}"
    elif decision == "retrain":
        why = f"{RETRAIN_LEVEL}: retrain now; {why}"
    else:
        why = f"no window at {SCHEDULE_LEVEL} or above; {why}"
    registry.record_decision(lake_uri, "check-drift", None, decision, why, details=details)
    return StepResult("check-drift", decision, why, None, details)


# --------------------------------------------------------------------------- retrain


def gate_summary(summary: dict) -> dict:
    """What the registry keeps of training.json: the gate, held-out metrics, windows, rows."""
    keep = ("revenue_gate", "train_window", "eval_window", "rows", "label_noise_rmse", "revenue_curves")
    out = {k: summary[k] for k in keep if k in summary}
    if "metrics" in summary:
        out["held_out_all"] = summary["metrics"].get("all")
    return out


def lineage_of(lake_uri: str, summary: dict, parent: str | None) -> dict:
    window = {"from": summary["train_window"]["from"], "to": summary["train_window"]["to"]}
    evaluated = summary["eval_window"]
    hashed_to = pd.Timestamp(evaluated["to"]) + pd.Timedelta("1h")
    return {"training_window": window, "eval_window": evaluated,
            "data_hash": registry.data_hash(lake_uri, window["from"], hashed_to),
            "code_version": registry.code_version(), "parent": parent}


def retrain(lake_uri: str, recent_days: float | None = DEFAULT_RECENT_DAYS, eval_days: int = DEFAULT_EVAL_DAYS,
            version: str | None = None) -> StepResult:
    champion = model_store.current_model(lake_uri)
    trained = train.run_training(lake_uri, eval_days, version, recent_days=recent_days)
    lineage = lineage_of(lake_uri, trained.summary, champion.version if champion else None)
    metrics = gate_summary(trained.summary)
    why = (f"trained on {lineage['training_window']['from'][:16]} .. {lineage['training_window']['to'][:16]} "
           f"({trained.summary['rows']['train']:,} rows), data {lineage['data_hash']['value'][:12]}, "
           f"parent {lineage['parent']}")
    registry.register(lake_uri, trained.version, metrics, lineage, why)
    registry.record_decision(lake_uri, "retrain", trained.version, "candidate", why,
                             details={"lineage": lineage})
    return StepResult("retrain", "candidate", why, trained.version, {"lineage": lineage})


# --------------------------------------------------------------------------- evaluate


def _champion_name(lake_uri: str) -> str:
    ref = model_store.current_model(lake_uri)
    return ref.version if ref is not None else "static floor"


def evaluate(lake_uri: str, version: str) -> StepResult:
    """The revenue gate of the candidate against the current champion on its held-out days."""
    entry = registry.read_entry(lake_uri, version)
    if entry["status"] not in ("candidate", "challenger"):
        raise StepError(f"model version {version!r} is {entry['status']}: only a candidate is evaluated")
    folder = model_store.slot_uri(lake_uri, "challenger", version)
    curves = model_store.load_curves(model_store.ModelRef(version, folder))
    gate = (entry.get("metrics") or {}).get("revenue_gate")
    champion = _champion_name(lake_uri)
    if curves is None:
        gate = {"promote": False, "reason": f"{folder} has no revenue curves (no exploration floors in its "
                                            "training logs): nothing for the revenue gate to judge"}
    elif gate is None or gate.get("champion") != champion:
        held = entry["lineage"]["eval_window"]
        progress(f"revenue gate of {version} against {champion} on {held['from'][:10]} .. {held['to'][:10]}")
        gate = train.revenue_gate_decision(lake_uri, curves, pd.Timestamp(held["from"]),
                                           pd.Timestamp(held["to"]) + pd.Timedelta("1h"))
    metrics = (entry.get("metrics") or {}) | {"revenue_gate": gate}
    passed = bool(gate.get("promote"))
    why = f"against {gate.get('champion', champion)}: {gate['reason']}"
    registry.set_status(lake_uri, version, "challenger" if passed else "refused", f"revenue gate: {why}",
                        metrics=metrics)
    outcome = "passed" if passed else "refused"
    registry.record_decision(lake_uri, "evaluate", version, outcome, why,
                             details={"lift": gate.get("lift"), "champion": gate.get("champion", champion)})
    return StepResult("evaluate", outcome, why, version, {"gate": {k: gate.get(k) for k in ("promote", "lift",
                                                                                            "champion")}},
                      OK if passed else REFUSED)


# --------------------------------------------------------------------------- challenger, approve, promote


def challenger(lake_uri: str, version: str) -> StepResult:
    entry = registry.read_entry(lake_uri, version)
    if entry["status"] != "challenger":
        why = f"{version} is {entry['status']}: only a version the revenue gate passed serves the challenger arm"
        registry.record_decision(lake_uri, "challenger", version, "refused", why)
        return StepResult("challenger", "refused", why, version, exit_code=REFUSED)
    arms = model_store.start_challenger(lake_uri, version)
    why = f"challenger arm {version} beside champion {arms.champion.version}"
    registry.record_decision(lake_uri, "challenger", version, "started", why)
    return StepResult("challenger", "started", why, version)


def approve(lake_uri: str, version: str, by: str, note: str, task_token: str | None = None) -> StepResult:
    registry.approve(lake_uri, version, by, note)
    why = f"approved by {by}" + (f": {note}" if note else "")
    registry.record_decision(lake_uri, "approve", version, "approved", why, by=by)
    if task_token:  # the state machine's manual approval waits on this token (waitForTaskToken)
        from udfs.aws import aws_client

        aws_client("stepfunctions", os.environ.get("YIELD_STEPFUNCTIONS_ENDPOINT") or None,
                   model_store.lake_region()).send_task_success(
            taskToken=task_token, output=json.dumps({"approved": True, "version": version, "by": by}))
        why += " (state machine resumed)"
    return StepResult("approve", "approved", why, version)


def promote(lake_uri: str, version: str, require_approval: bool = False, by: str = "mlops") -> StepResult:
    entry = registry.read_entry(lake_uri, version)
    gate = (entry.get("metrics") or {}).get("revenue_gate") or {}
    refusal = None
    if entry["status"] == "refused":
        refusal = f"{version} was refused by the revenue gate ({gate.get('reason', 'no reason recorded')})"
    elif entry["status"] != "challenger" or not gate.get("promote"):
        refusal = f"{version} is {entry['status']} without the revenue gate's pass: run evaluate first"
    elif require_approval and not entry.get("approval"):
        refusal = f"{version} needs a manual approval (approval required) and has none: run approve first"
    if refusal is not None:
        registry.record_decision(lake_uri, "promote", version, "refused", refusal, by=by)
        return StepResult("promote", "refused", refusal, version, exit_code=REFUSED)
    previous = model_store.current_model(lake_uri)
    ref = model_store.promote(lake_uri, version)
    registry.set_status(lake_uri, version, "champion", f"promoted, replacing {previous.version if previous else None}")
    if previous is not None and registry.read_entry(lake_uri, previous.version, missing_ok=True):
        registry.set_status(lake_uri, previous.version, "retired", f"replaced by {version}")
    approval = entry.get("approval")
    why = (f"champion {ref.version}, replacing {previous.version if previous else 'none'}; gate: {gate.get('reason')}"
           + (f"; approved by {approval['by']}" if approval else ""))
    registry.record_decision(lake_uri, "promote", version, "promoted", why, by=by,
                             details={"replaced": previous.version if previous else None})
    return StepResult("promote", "promoted", why, version, {"replaced": previous.version if previous else None})


def rollback(lake_uri: str, by: str = "mlops", note: str = "") -> StepResult:
    before = model_store.read_arms(lake_uri)
    ref = model_store.rollback(lake_uri)
    rolled_back = before.champion.version if before else None
    if rolled_back and registry.read_entry(lake_uri, rolled_back, missing_ok=True):
        registry.set_status(lake_uri, rolled_back, "retired", f"rolled back to {ref.version}")
    if registry.read_entry(lake_uri, ref.version, missing_ok=True):
        registry.set_status(lake_uri, ref.version, "champion", f"restored by a rollback from {rolled_back}")
    why = f"champion {ref.version} again, {rolled_back} rolled back (one manifest write)"
    why += f": {note}" if note else ""
    registry.record_decision(lake_uri, "rollback", ref.version, "rolled back", why, by=by,
                             details={"rolled_back": rolled_back})
    return StepResult("rollback", "rolled back", why, ref.version, {"rolled_back": rolled_back})


def status(lake_uri: str) -> StepResult:
    arms = model_store.read_arms(lake_uri)
    lines = [f"manifest: champion {arms.champion.version if arms else None}, "
             f"challenger {arms.challenger.version if arms and arms.challenger else None}, "
             f"replaced {arms.replaced if arms else None}"]
    lines.append(f"{'version':<22} {'status':<11} {'parent':<22} {'data hash':<14} {'approval':<14} gate")
    for e in registry.entries(lake_uri):
        gate = (e.get("metrics") or {}).get("revenue_gate") or {}
        lift = gate.get("lift") or {}
        lift_text = (f"{lift['point']:+.2%} [{lift['lo']:+.2%}, {lift['hi']:+.2%}]"
                     if lift and all(isinstance(lift.get(k), float) and math.isfinite(lift[k])
                                     for k in ("point", "lo", "hi")) else "-")
        lines.append(f"{e['version']:<22} {e['status']:<11} {str(e['lineage'].get('parent')):<22} "
                     f"{e['lineage']['data_hash']['value'][:12]:<14} "
                     f"{(e.get('approval') or {}).get('by', '-'):<14} {lift_text}")
    text = "\n".join(lines)
    return StepResult("status", "ok", text, arms.champion.version if arms else None)


# --------------------------------------------------------------------------- the demo


DEMO_START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday (simulator.market.DEFAULT_START)


def write_drift_records(lake_uri: str, baseline_version: str, start: datetime, end: datetime,
                        settings: object) -> pd.DataFrame:
    """The job's drift records for the hourly windows of [start, end), computed offline from the
    lake's raw events with the job's own functions (udfs.drift.window_drift_of_events against the
    version's baseline, rows by udfs.drift_monitor.drift_rows), written where the job writes them
    (outputs/monitoring/drift/, Parquet, partitioned by hour)."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from udfs import drift, drift_monitor

    ref = model_store.current_model(lake_uri)
    if ref is None or ref.version != baseline_version:
        raise StepError(f"{baseline_version} is not the current model: its baseline is not the job's")
    baseline = model_store.load_baseline(ref)
    grid = drift.load_grid()
    names = [name for name, _type in drift_monitor.RECORD_FIELDS]
    base = Path(urlparse(lake_uri).path) / lake.PREFIXES["drift"]
    naive = lambda t: pd.Timestamp(t).tz_convert(None).to_pydatetime()  # noqa: E731 - the lake's timestamps
    where = (ds.field("event_time") >= naive(start)) & (ds.field("event_time") < naive(end))
    raw = lake.read(lake_uri, "raw", [*grid, "impression_id", "event_time"], where).drop_duplicates("impression_id")
    by_hour = dict(tuple(raw.groupby(pd.to_datetime(raw["event_time"]).dt.floor("h"))))
    summary = []
    hour = start
    while hour < end:
        nxt = hour + timedelta(hours=1)
        events = by_hour.get(pd.Timestamp(naive(hour)), raw.iloc[0:0])
        verdict = drift.window_drift_of_events(baseline, events, grid, settings, (hour, nxt))
        rows = [dict(zip(names, row, strict=True)) for row in drift_monitor.drift_rows(ref.version, verdict, grid)]
        frame = pd.DataFrame(rows).assign(window_start=pd.Timestamp(hour).tz_localize(None),
                                          window_end=pd.Timestamp(nxt).tz_localize(None))
        part = base / f"year={hour:%Y}" / f"month={hour:%m}" / f"day={hour:%d}" / f"hour={hour:%H}"
        part.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), part / "part-offline-0.parquet")
        summary.append({"window_start": hour, "level": verdict.level, "score": verdict.global_score})
        hour = nxt
    return pd.DataFrame(summary)


def worse_candidate(lake_uri: str, source: str, version: str, factor: float = 3.0) -> StepResult:
    """A deliberately worse candidate for the demo: `source`'s files with every segment's price
    level in its revenue curves multiplied by `factor` (its floors land about that much too high),
    registered as a candidate with `source`'s lineage."""
    files = model_store.read_version(lake_uri, "challenger", source)
    segments = json.loads(files["segments.json"])
    shift = math.log(factor)
    segments["levels"] = {k: (v if k.startswith("hour:") else v + shift) for k, v in segments["levels"].items()}
    files["segments.json"] = json.dumps(segments, sort_keys=True).encode()
    summary = json.loads(files[model_store.TRAINING_FILE])
    summary.pop("revenue_gate", None)
    summary["version"] = version
    summary["note"] = f"deliberately worse: {source}'s revenue curves with price levels x{factor:g}"
    files[model_store.TRAINING_FILE] = json.dumps(summary, indent=1).encode()
    model_store.write_version(lake_uri, "challenger", version, files)
    lineage = registry.read_entry(lake_uri, source)["lineage"] | {"parent": _champion_name(lake_uri),
                                                                 "derived_from": source}
    why = summary["note"]
    registry.register(lake_uri, version, gate_summary(summary), lineage, why)
    registry.record_decision(lake_uri, "retrain", version, "candidate", why, details={"lineage": lineage})
    return StepResult("retrain", "candidate", why, version)


def demo(root: Path, rate: float = 6.0, drift_amount: float = 0.4, rounds: int = 60,
         lookback_hours: float = 72.0) -> int:
    """The loop end to end on a fresh local lake under `root` (see docs/mlops.md)."""
    from simulator.market import Drift, Exploration, Market, backfill
    from training import drift_calibration
    from udfs.drift_thresholds import CALIBRATED, DriftSettings

    t0 = time.perf_counter()
    shutil.rmtree(root, ignore_errors=True)
    lake_uri = f"file://{root.resolve()}"
    train.BOOST_ROUNDS = rounds  # the CPM model is not what the gate judges; fewer rounds keep the demo short
    step = lambda text: progress(f"[{time.perf_counter() - t0:5.0f} s] {text}")  # noqa: E731
    exploration = Exploration(share=0.10, holdout=0.02)
    drift_start = DEMO_START + timedelta(days=4)
    tier1 = Drift(drift_start, "bid_level_tier_1", drift_amount)
    market = Market(seed=0, drifts=[tier1], exploration=exploration)

    step(f"1/9 backfill 4 drift-free simulated days at {rate:g} events/s with exploration floors into {lake_uri}")
    backfill(market, str(root), DEMO_START, 4, rate, progress=step)
    step("2/9 retrain + evaluate + promote the first champion (the gate compares it with the static floor)")
    first = _show(retrain(lake_uri, recent_days=4, eval_days=DEFAULT_EVAL_DAYS))
    _show(evaluate(lake_uri, first.version))
    _show(promote(lake_uri, first.version))
    step("3/9 calibrate the drift thresholds of the champion's baseline on its drift-free training days "
         "(training.drift_calibration, windows from the lake)")
    ref = model_store.current_model(lake_uri)
    baseline = model_store.load_baseline(ref)
    grid = {f: fb.edges for f, fb in baseline.features.items()}
    window = registry.read_entry(lake_uri, first.version)["lineage"]["training_window"]
    since, until = pd.Timestamp(window["from"]).tz_localize("UTC"), pd.Timestamp(window["to"]).tz_localize("UTC")
    calibrated = drift_calibration.calibrated(
        baseline, drift_calibration.lake_windows(lake_uri, since.to_pydatetime(), until.to_pydatetime(), grid, 3600),
        grid, 3600, max(1, (until - since).days), f"lake raw events [{since}, {until})")
    for slot in model_store.SLOTS:
        uri = model_store.join(model_store.slot_uri(lake_uri, slot, ref.version), model_store.BASELINE_FILE)
        if model_store.read_bytes(uri, missing_ok=True) is not None:
            model_store.write_bytes(uri, calibrated.to_json().encode())
    step(f"4/9 the market drifts: tier-1 bids {drift_amount:+.0%} from {drift_start:%Y-%m-%d %H:%M}; "
         "backfill 3 more days")
    backfill(market, str(root), drift_start, 3, rate, progress=step)
    step("5/9 drift records for the last 4 days, computed offline with the job's functions (calibrated mode; "
         "the Flink job is not run by the demo)")
    settings = DriftSettings(mode=CALIBRATED)
    verdicts = write_drift_records(lake_uri, ref.version, DEMO_START + timedelta(days=3),
                                   DEMO_START + timedelta(days=7), settings)
    verdicts["day"] = verdicts["window_start"].map(lambda t: f"{t:%Y-%m-%d}")
    print(verdicts.groupby(["day", "level"]).size().unstack(fill_value=0).to_string(), flush=True)
    step(f"6/9 check-drift over the {lookback_hours:g} h since the drift began (hourly on AWS, over 6 h)")
    checked = _show(check_drift(lake_uri, lookback_hours=lookback_hours))
    if checked.outcome != "retrain":
        progress(f"the drift check says {checked.outcome}, not retrain: the demo stops here")
        return REFUSED
    step("7/9 retrain on the recent window (3 days: 2 to train, 1 held out) + evaluate against the champion")
    candidate = retrain(lake_uri, recent_days=DEFAULT_RECENT_DAYS, eval_days=DEFAULT_EVAL_DAYS)
    _show(candidate)
    _show(evaluate(lake_uri, candidate.version))
    _show(challenger(lake_uri, candidate.version))
    _show(promote(lake_uri, candidate.version, require_approval=True))  # refused: no approval yet
    _show(approve(lake_uri, candidate.version, "demo-operator", "lift and fill reviewed"))
    _show(promote(lake_uri, candidate.version, require_approval=True))
    step("8/9 a deliberately worse candidate (price levels x3 in its revenue curves) through the same gate")
    worse = worse_candidate(lake_uri, candidate.version, f"{candidate.version}-worse")
    _show(worse)
    _show(evaluate(lake_uri, worse.version))
    _show(promote(lake_uri, worse.version))
    step("9/9 roll back to the previous champion")
    _show(rollback(lake_uri, "demo-operator", "demo: back to the first champion"))
    manifest = model_store.manifest_uri(lake_uri)
    print(f"\n{manifest}: {model_store.read_bytes(manifest).decode()}")
    print("\n" + status(lake_uri).reason)
    print("\ndecision log (models/registry/decisions/):")
    print(registry.format_decisions(registry.decisions(lake_uri), width=140))
    print(f"\nmlops demo: {time.perf_counter() - t0:.0f} s")
    return OK


def _show(result: StepResult) -> StepResult:
    print(f"{result.step:<11} {result.version or '-':<26} {result.outcome:<12} {result.reason}", flush=True)
    return result


# --------------------------------------------------------------------------- CLI


def result_uri(lake_uri: str, step: str, explicit: str | None) -> str | None:
    if explicit:
        return explicit
    run_id = os.environ.get(RUN_ID_ENV)
    return model_store.join(lake_uri, RUNS_PREFIX, run_id, f"{step}.json") if run_id else None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.mlops", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="step", required=True)

    def add(name: str, help_text: str, version: bool = False) -> argparse.ArgumentParser:
        s = sub.add_parser(name, help=help_text)
        s.add_argument("--lake", default=os.environ.get(LAKE_ENV), help=f"lake root (default ${LAKE_ENV})")
        s.add_argument("--result-uri", default=None, help=f"also write the result there (default with ${RUN_ID_ENV})")
        if version:
            s.add_argument("--version", default=os.environ.get(VERSION_ENV) or None,
                           help=f"the model version (default ${VERSION_ENV})")
        return s

    s = add("check-drift", "the drift decision from the lake's drift records: retrain, schedule or none")
    s.add_argument("--lookback-hours", type=float, default=DEFAULT_LOOKBACK_HOURS)
    s.add_argument("--schedule-hour", type=int, default=DEFAULT_SCHEDULE_HOUR, help="off-peak UTC hour")
    s = add("retrain", "train a candidate on the lake's recent window and register it")
    s.add_argument("--days", type=float, default=DEFAULT_RECENT_DAYS, help="recent whole days read (0: all)")
    s.add_argument("--eval-days", type=int, default=DEFAULT_EVAL_DAYS, help="latest days held out for the gate")
    s.add_argument("--new-version", dest="new_version", default=None, help="version name (default: UTC timestamp)")
    add("evaluate", "the revenue gate of a candidate against the champion", version=True)
    add("challenger", "serve a gate-passed version as the challenger arm", version=True)
    s = add("approve", "record a manual approval (and resume a waiting state machine)", version=True)
    s.add_argument("--by", required=True)
    s.add_argument("--note", default="")
    s.add_argument("--task-token", default=None, help="the state machine's waitForTaskToken token")
    s = add("promote", "make a gate-passed (and, when required, approved) version the champion", version=True)
    s.add_argument("--require-approval", action="store_true",
                   default=_truthy(os.environ.get(REQUIRE_APPROVAL_ENV)),
                   help=f"refuse without a recorded approval (default ${REQUIRE_APPROVAL_ENV})")
    s = add("rollback", "back to the previous champion: one manifest write")
    s.add_argument("--by", default="mlops")
    s.add_argument("--note", default="")
    add("status", "the manifest, the registry's entries and the decision log")
    s = sub.add_parser("demo", help="the loop on a simulated local lake (make mlops-demo)")
    s.add_argument("--root", type=Path, default=Path(".local/mlops-demo/lake"))
    s.add_argument("--rate", type=float, default=6.0, help="simulated mean events/s")
    s.add_argument("--drift", type=float, default=0.4, help="tier-1 bid level change from day 5")
    return p


def run(args: argparse.Namespace) -> StepResult:
    if args.step != "demo" and not args.lake:
        raise StepError(f"no lake: pass --lake URI or set ${LAKE_ENV}")
    if getattr(args, "version", "given") is None:
        raise StepError(f"{args.step} needs a model version: pass --version V or set ${VERSION_ENV}")
    if args.step == "check-drift":
        return check_drift(args.lake, args.lookback_hours, args.schedule_hour)
    if args.step == "retrain":
        return retrain(args.lake, args.days or None, args.eval_days, args.new_version)
    if args.step == "evaluate":
        return evaluate(args.lake, args.version)
    if args.step == "challenger":
        return challenger(args.lake, args.version)
    if args.step == "approve":
        return approve(args.lake, args.version, args.by, args.note, args.task_token)
    if args.step == "promote":
        return promote(args.lake, args.version, args.require_approval)
    if args.step == "rollback":
        return rollback(args.lake, args.by, args.note)
    return status(args.lake)


ERRORS: tuple[type[Exception], ...] = (StepError, registry.RegistryError, model_store.ModelStoreError,
                                        train.TrainingError, lake.LakeError)


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    args = parser().parse_args(argv)
    if args.step == "demo":
        return demo(args.root, args.rate, args.drift)
    try:
        result = run(args)
    except ERRORS as err:
        print(f"mlops {args.step}: error: {err}", file=sys.stderr)
        result = StepResult(args.step, "error", str(err), getattr(args, "version", None), exit_code=ERROR)
        if args.lake:
            try:
                registry.record_decision(args.lake, args.step, getattr(args, "version", None), "error", str(err))
            except ERRORS + (OSError,):
                pass
    target = result_uri(args.lake or "", args.step, args.result_uri) if args.lake else None
    if target:
        model_store.write_bytes(target, json.dumps(result.as_dict(), default=str).encode())
    out(result.reason if args.step == "status" else json.dumps(result.as_dict(), default=str))
    if result.exit_code == REFUSED:
        print(f"mlops {args.step}: refused: {result.reason}", file=sys.stderr)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
