"""Open-loop load on the floor API (serving/api.py): fixed arrival rates, latency percentiles, achieved
predictions/s, each against a bare Starlette endpoint measured in the same run.

The load generator is vegeta (Go, the Go module proxy; pinned below and installed into .local/bin
when missing). It sends at a constant rate whatever the answers do (open loop): a slow answer does
not delay the next request, so queueing shows up in the latency instead of being hidden by a
waiting client. Latency is vegeta's, from a request's send to its last response byte.

Servers, each in its own process as `make serve` starts them (`python -m serving.api`, uvicorn,
no access log), over a fresh floors table on the DynamoDB stand-in (moto) filled from simulated
traffic (70% of segments with a fresh fine floor, 15% coarse only, 5% expired, 10% none):

- baseline: a bare Starlette app on the same uvicorn settings whose /v2/predict answers a constant
  (and /v2/predict/batch a constant list of the batch's length): the server and the client alone;
- the API with uvloop + httptools, on one worker and on two;
- the API with asyncio + h11 (uvicorn without its optional speedups), one worker.

Workloads: single predictions at fixed request rates, and batches of 100 and of 1,000 at fixed
request rates (a batch counts its predictions). The in-process ceiling is `decide()` over the same
snapshot, called in a loop. The load generator shares the machine's cores with the server.

    .venv/bin/python -m bench.floor_api_load [--seconds 8] [--quick]

Writes bench/results/floor_api_load.md and floor_api_load.png.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.floor_lookups import REGION, fill_table
from local_kinesis import resources, standins
from serving import api
from serving.keys import hash_key
from serving.snapshot import FloorsSnapshot
from simulator.events import generate_events
from udfs import rules
from udfs.aws import aws_client

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
VEGETA_MODULE = "github.com/tsenart/vegeta/v12"
VEGETA_VERSION = "v12.13.0"
VEGETA = ROOT / ".local" / "bin" / "vegeta"
API_KEY = "bench-load-key"
TARGETS_PER_WORKLOAD = 200  # distinct bodies vegeta cycles through
P95_GOAL_MS = 50.0
RATE_GOAL = 10_000  # predictions/s

# A constant answer of the size of a real one, for the baseline server.
CONSTANT_ANSWER = {"impression_id": "imp-0000000000000000", "floor_eur": 2.4375, "level": "fine",
                   "segment_key": "news.example.es|top_banner|mobile|1", "predicted_cpm": 3.1, "model_version": "m-1",
                   "window_start": "2027-01-15T08:00:00.000Z", "window_end": "2027-01-15T09:00:00.000Z",
                   "prediction_timestamp": "2027-01-15T09:01:02.345Z", "latency_ms": 0.05}
CONSTANT_BYTES = orjson.dumps(CONSTANT_ANSWER)


def baseline_app() -> Starlette:
    """The bare endpoint: the same routes, no key, no validation, no lookup; a constant answer."""

    async def predict(request: Request) -> Response:
        await request.body()
        return Response(CONSTANT_BYTES, media_type="application/json")

    async def batch(request: Request) -> Response:
        body = await request.body()
        count = body.count(b'"impression_id"')
        return Response(b"[" + b",".join([CONSTANT_BYTES] * count) + b"]", media_type="application/json")

    async def health(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(routes=[Route("/v2/predict", predict, methods=["POST"]),
                             Route("/v2/predict/batch", batch, methods=["POST"]),
                             Route("/v2/health", health, methods=["GET"])])


# ---------------------------------------------------------------------------------------------- tools


def ensure_vegeta() -> Path:
    """vegeta at the pinned version, built by `go install` into .local/bin when missing."""
    stamp = VEGETA.with_suffix(".version")
    if VEGETA.exists() and stamp.exists() and stamp.read_text().strip() == VEGETA_VERSION:
        return VEGETA
    if shutil.which("go") is None:
        raise SystemExit("vegeta is built with Go (go install); Go is not on PATH")
    VEGETA.parent.mkdir(parents=True, exist_ok=True)
    print(f"installing vegeta {VEGETA_VERSION} (go install, about a minute)", flush=True)
    subprocess.run(["go", "install", f"{VEGETA_MODULE}@{VEGETA_VERSION}"], check=True,
                   env={**os.environ, "GOBIN": str(VEGETA.parent)})
    stamp.write_text(VEGETA_VERSION + "\n")
    return VEGETA


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prediction_request(event: dict[str, Any], i: int) -> dict[str, Any]:
    """The ad server's request for a simulated auction (the fields PredictionRequest names)."""
    t = rules.time_fields(datetime.fromisoformat(event["event_time"].replace("Z", "+00:00")))
    return {"impression_id": f"imp-{i:08d}", "hour_of_day": t["hour_of_day"], "day_of_week": t["day_of_week"],
            "country_tier": rules.country_tier(event["country"]), "device_category": event["device_category"],
            "format": event["format"], "inventory_type": event["inventory_type"], "domain": event["domain"],
            "ad_unit": event["ad_unit"]}


# ---------------------------------------------------------------------------------------------- servers


@dataclass(frozen=True)
class ServerConfig:
    name: str
    app: str  # "api" or "baseline"
    workers: int = 1
    loop: str = "uvloop"
    http: str = "httptools"


@contextmanager
def server(config: ServerConfig, env: dict[str, str], log_dir: Path) -> Iterator[str]:
    port = free_port()
    flags = ["--port", str(port), "--workers", str(config.workers), "--loop", config.loop, "--http", config.http,
             "--no-access-log"]
    if config.app == "api":
        command = [sys.executable, "-m", "serving.api", *flags]
    else:
        command = [sys.executable, "-m", "uvicorn", "bench.floor_api_load:baseline_app", "--factory",
                   "--host", "127.0.0.1", "--log-level", "warning", *flags]
    log_path = log_dir / f"{config.name.replace(' ', '_').replace('/', '_')}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(url + "/v2/health", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{config.name} did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# ---------------------------------------------------------------------------------------------- load


@dataclass
class Step:
    server: str
    workload: str  # "single", "batch 100", "batch 1000"
    batch: int
    offered_rps: float  # requests/s sent at
    seconds: float
    sent: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))
    wall_s: float = 0.0  # first send to last answer

    @property
    def offered_predictions(self) -> float:
        return self.offered_rps * self.batch

    @property
    def achieved_predictions(self) -> float:
        return self.ok * self.batch / self.wall_s if self.wall_s else 0.0

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if len(self.latencies_ms) else float("nan")


def write_targets(path: Path, url: str, bodies: list[bytes]) -> None:
    """vegeta's http target format: a request line, headers, then @file for the body."""
    lines = []
    for i, body in enumerate(bodies):
        body_file = path.with_name(f"{path.stem}-{i}.json")
        body_file.write_bytes(body)
        lines += [f"POST {url}", f"X-API-Key: {API_KEY}", "Content-Type: application/json", f"@{body_file}", ""]
    path.write_text("\n".join(lines))


def attack(targets: Path, rate: float, seconds: float, step: Step) -> Step:
    vegeta = ensure_vegeta()
    out = targets.with_suffix(".bin")
    subprocess.run([str(vegeta), "attack", f"-targets={targets}", "-format=http", f"-rate={int(rate)}/1s",
                    f"-duration={seconds}s", "-timeout=5s", "-max-workers=2000", f"-output={out}"],
                   check=True, capture_output=True)
    encoded = subprocess.run([str(vegeta), "encode", "-to=csv", str(out)], check=True, capture_output=True,
                             text=True).stdout
    starts, ends, latencies = [], [], []
    csv.field_size_limit(1 << 30)  # a row carries the response body (base64): a 1,000 batch's is ~400 KB
    for row in csv.reader(io.StringIO(encoded)):
        started_ns, code, latency_ns, error = int(row[0]), row[1], int(row[2]), row[5]
        step.sent += 1
        if code == "200" and not error:
            step.ok += 1
            latencies.append(latency_ns / 1e6)
        else:
            reason = f"{code} {error}".strip()[:60]
            step.errors[reason] = step.errors.get(reason, 0) + 1
        starts.append(started_ns)
        ends.append(started_ns + latency_ns)
    step.latencies_ms = np.asarray(latencies)
    step.wall_s = (max(ends) - min(starts)) / 1e9 if starts else 0.0
    out.unlink(missing_ok=True)
    return step


def in_process_ceiling(table: str, requests: list[dict[str, Any]], seconds: float = 2.0) -> float:
    """decide() calls/s over the same table's snapshot, in this process: no HTTP, no JSON, no keys."""
    snapshot = FloorsSnapshot(table, aws_client("dynamodb", standins.MOTO_ENDPOINT, REGION))
    snapshot.refresh()
    current, now = snapshot.current, time.time()
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for request in requests:
            api.decide(request, current, now, rules.STATIC_FLOOR_EUR)
        done += len(requests)
    return done / (time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------- plan


SERVERS = [
    ServerConfig("baseline (bare Starlette), 1 worker", "baseline", 1),
    ServerConfig("API, 1 worker", "api", 1),
    ServerConfig("API, 2 workers", "api", 2),
    ServerConfig("API, 1 worker, asyncio + h11", "api", 1, "asyncio", "h11"),
    ServerConfig("baseline (bare Starlette), 2 workers", "baseline", 2),
]
# (workload, batch size, request rates)
PLAN = [("single", 1, (1_000, 2_500, 5_000, 10_000)), ("batch 100", 100, (50, 100, 200)),
        ("batch 1000", 1000, (10, 20, 50))]
QUICK_PLAN = [("single", 1, (1_000, 5_000)), ("batch 100", 100, (100,))]


def run(seconds: float = 8.0, quick: bool = False, servers: Sequence[ServerConfig] = SERVERS) -> dict[str, Any]:
    plan = QUICK_PLAN if quick else PLAN
    ensure_vegeta()
    events = generate_events(5_000, seed=11)
    requests = [prediction_request(e, i) for i, e in enumerate(events)]
    table = f"bench-api-{uuid.uuid4().hex[:8]}"
    client = aws_client("dynamodb", standins.MOTO_ENDPOINT, REGION)
    params, ttl = resources.floors_table_params(table)
    resources.create_table(client, params, ttl)
    kinds = fill_table(table, events)
    print(f"table {table}: segments {kinds}", flush=True)
    ceiling = in_process_ceiling(table, requests[:1000])
    print(f"in-process decide(): {ceiling:,.0f} predictions/s", flush=True)
    steps: list[Step] = []
    with tempfile.TemporaryDirectory(prefix="floor-api-load-") as tmp:
        work = Path(tmp)
        keys_file = work / "api_keys.json"
        keys_file.write_text(json.dumps({"keys": [{"name": "bench", "sha256": hash_key(API_KEY),
                                                   "rate_per_s": 1e9, "burst": 1e9}]}))
        env = {**os.environ, "YIELD_API_TABLE": table, "YIELD_API_DYNAMODB_ENDPOINT": standins.MOTO_ENDPOINT,
               "YIELD_API_REGION": REGION, "YIELD_API_KEYS_FILE": str(keys_file), "YIELD_API_HOST": "127.0.0.1"}
        for config in servers:
            if quick and config.workers > 1:
                continue
            with server(config, env, work) as url:
                print(f"== {config.name}", flush=True)
                for workload, batch, rates in plan:
                    path = "/v2/predict" if batch == 1 else "/v2/predict/batch"
                    if batch == 1:
                        bodies = [orjson.dumps(requests[i]) for i in range(TARGETS_PER_WORKLOAD)]
                    else:
                        bodies = [orjson.dumps([requests[(i * batch + j) % len(requests)] for j in range(batch)])
                                  for i in range(20)]
                    targets = work / f"targets-{batch}.txt"
                    write_targets(targets, url + path, bodies)
                    attack(targets, rates[0], 2, Step(config.name, workload, batch, rates[0], 2))  # warm-up
                    for rate in rates:
                        step = attack(targets, rate, seconds, Step(config.name, workload, batch, rate, seconds))
                        steps.append(step)
                        print(f"{workload:10s} {rate:6d} req/s offered: {step.achieved_predictions:9,.0f} pred/s  "
                              f"p50 {step.pct(50):7.2f}  p95 {step.pct(95):7.2f}  p99 {step.pct(99):7.2f}  "
                              f"p99.9 {step.pct(99.9):7.2f} ms  ok {step.ok}/{step.sent}"
                              + (f"  errors {step.errors}" if step.errors else ""), flush=True)
    client.delete_table(TableName=table)
    return {"steps": steps, "ceiling": ceiling, "kinds": kinds, "seconds": seconds}


# ---------------------------------------------------------------------------------------------- report


def _baseline_for(step: Step, steps: list[Step]) -> Step | None:
    workers = "2 workers" if "2 workers" in step.server else "1 worker"
    return next((s for s in steps if s.server.startswith("baseline") and workers in s.server
                 and s.workload == step.workload and s.offered_rps == step.offered_rps), None)


def report_lines(results: dict[str, Any]) -> list[str]:
    """The table and the goal line (no title): this file's report and section 6 of BENCHMARKS.md."""
    steps: list[Step] = results["steps"]
    lines = ["Load from vegeta at constant request rates (open loop); the load generator and the server share "
             "this machine's cores. `vs baseline`: the API's p95 / the bare Starlette endpoint's p95, and its "
             "achieved rate / the endpoint's, at the same offered rate and worker count, in the same run.", "",
             f"Table: {sum(results['kinds'].values())} segments of simulated traffic ({results['kinds']}); "
             f"{results['seconds']:.0f} s per step. In-process ceiling (decide() over the snapshot, no HTTP): "
             f"{results['ceiling']:,.0f} predictions/s.", "",
             "| server | workload | offered req/s | offered pred/s | achieved pred/s | p50 ms | p95 ms | p99 ms | "
             "p99.9 ms | errors | p95 vs baseline | rate vs baseline |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in steps:
        base = _baseline_for(s, steps)
        vs_p95 = f"{s.pct(95) / base.pct(95):.2f}" if base and base is not s and base.ok else "-"
        vs_rate = (f"{s.achieved_predictions / base.achieved_predictions:.2f}"
                   if base and base is not s and base.achieved_predictions else "-")
        errors = sum(s.errors.values())
        lines.append(f"| {s.server} | {s.workload} | {s.offered_rps:,.0f} | {s.offered_predictions:,.0f} | "
                     f"{s.achieved_predictions:,.0f} | {s.pct(50):.2f} | {s.pct(95):.2f} | {s.pct(99):.2f} | "
                     f"{s.pct(99.9):.2f} | {errors} | {vs_p95} | {vs_rate} |")
    met = [s for s in steps if s.server.startswith("API") and not s.errors and s.pct(95) < P95_GOAL_MS
           and s.achieved_predictions > RATE_GOAL]
    lines += ["", f"Goal (issue 19): p95 < {P95_GOAL_MS:.0f} ms at > {RATE_GOAL:,} predictions/s, no errors. "
              "Steps of the API that meet it: "
              + ("; ".join(f"{s.server}, {s.workload} at {s.offered_rps:,.0f} req/s" for s in met) or "none") + "."]
    return lines


def report(results: dict[str, Any]) -> str:
    lines = ["# Floor API under open-loop load", "",
             "Written by `.venv/bin/python -m bench.floor_api_load` (`make bench-floor-api`).", "",
             *report_lines(results), "", "![floor API load](floor_api_load.png)", ""]
    return "\n".join(lines)


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps: list[Step] = results["steps"]
    workloads = list(dict.fromkeys(s.workload for s in steps))
    fig, axes = plt.subplots(2, len(workloads), figsize=(4.2 * len(workloads), 6.4), squeeze=False)
    for col, workload in enumerate(workloads):
        for name in dict.fromkeys(s.server for s in steps):
            mine = [s for s in steps if s.server == name and s.workload == workload]
            if not mine:
                continue
            x = [s.offered_predictions for s in mine]
            axes[0][col].plot(x, [s.pct(95) for s in mine], marker="o", label=name)
            axes[1][col].plot(x, [s.achieved_predictions for s in mine], marker="o", label=name)
        axes[0][col].axhline(P95_GOAL_MS, color="red", linestyle="--", linewidth=1)
        axes[0][col].set_yscale("log")
        axes[0][col].set_title(f"{workload}: p95 latency")
        axes[0][col].set_ylabel("ms")
        axes[1][col].axhline(RATE_GOAL, color="red", linestyle="--", linewidth=1)
        axes[1][col].set_title(f"{workload}: achieved")
        axes[1][col].set_ylabel("predictions/s")
        axes[1][col].set_xlabel("offered predictions/s")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per load step")
    parser.add_argument("--quick", action="store_true", help="two rates, one worker: a smoke run, not figures")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    with standins.running_standins(["moto"]):  # only the DynamoDB stand-in
        results = run(args.seconds, args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    chart(results, args.out / "floor_api_load.png")
    text = report(results)
    (args.out / "floor_api_load.md").write_text(text, encoding="utf-8")
    print("\n" + text)


if __name__ == "__main__":
    main()
