"""The A/B replay against floors the real job made, with the lake's current model (or without).

1. One hour of simulated market traffic (the same market as the lake's backfill) to a JSON-lines file.
2. The real job (PyFlink + connector jar) reads it from the file with 1 h windows, the current
   model of `--model-lake` copied into a fresh work lake (`--no-model`: none, provisional floors),
   and writes that hour's floors to a fresh DynamoDB table on the stand-in.
3. training.ab_test replays auctions of the NEXT hour (the hour those floors are for)
   under the static floor and under the job's floors.

    python -m local_runs.ab_model_run --model-lake file:///... --hour 2026-01-09T00:00:00Z [--rate 29]
        [--no-model] [--events 50000] [--chart ab_model.png] [--challenger VERSION|current]

With `--challenger`, the job scores with both arms (the challenger's floor on the same item) and the
replay is `ab_test --arms`: each auction in the arm the floor API gives it, per-arm figures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flink_jobs.config import load_config, write_properties
from flink_jobs.pipeline import file_source_options
from local_kinesis import resources, standins
from local_runs.runner import start_job
from simulator.market import Market, write_jsonl
from training import ab_test
from udfs import model_store


def copy_current_model(source_lake: str, target_lake: str, challenger: str | None = None) -> str:
    """The source's current model into the target lake; with `challenger` (a version of the source's
    challenger slot, or "current": the challenger its manifest names), that one as the challenger arm."""
    arms = model_store.read_arms(source_lake)
    if arms is None:
        raise SystemExit(f"no current model in {source_lake}: train and promote one first (make train ARGS=--promote)")
    version = arms.champion.version
    model_store.write_version(target_lake, "current", version, model_store.read_version(source_lake, "current",
                                                                                        version))
    model_store.write_manifest(target_lake, version)
    if challenger == "current":
        if arms.challenger is None:
            raise SystemExit(f"{model_store.manifest_uri(source_lake)} names no challenger")
        challenger = arms.challenger.version
        files = model_store.read_version(source_lake, "current", challenger)
    elif challenger:
        files = model_store.read_version(source_lake, "challenger", challenger)
    if challenger:
        model_store.write_version(target_lake, "challenger", challenger, files)
        model_store.start_challenger(target_lake, challenger)
        return f"{version}, challenger {challenger}"
    return version


def job_floors(work: Path, hour: datetime, rate: float, seed: int, model_lake: str | None,
               challenger: str | None = None) -> Path:
    """Run the job over one hour of traffic; returns the properties file naming its floors table."""
    events = work / "hour.jsonl"
    with events.open("wb") as out:
        n = write_jsonl(Market(seed).span(hour, hour + timedelta(hours=1), rate, truth=False), out)
    lake = (work / "lake").as_uri()
    version = copy_current_model(model_lake, lake, challenger) if model_lake else "none (provisional rule)"
    print(f"{n:,} auctions of {hour:%Y-%m-%d %H}:00 through the job; model {version}", file=sys.stderr)
    props = write_properties(work / "application_properties.json", {
        "DataLake": {"path": lake},
        "FloorsTable": {"table.name": f"ab-floors-{uuid.uuid4().hex[:8]}"},
        "Job": {"window.size": "1 h", "watermark.lateness": "30 s", "floor.ttl.windows": "2", "parallelism": "2",
                "checkpoint.interval": "10 s"},
    })
    config = load_config(props)
    resources.create_all(config)  # the floors table, and the feature group the job writes to
    job = start_job(config, file_source_options(events.as_uri()), work / "job")
    job.result.wait()  # a bounded file: the job ends, its final watermark closes the hour
    return props


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_runs.ab_model_run", description=__doc__.split("\n")[0])
    parser.add_argument("--model-lake", help="lake whose current model scores (file:// or s3://)")
    parser.add_argument("--no-model", action="store_true", help="provisional floors (no model) for comparison")
    parser.add_argument("--hour", required=True, help="ISO hour of the traffic the floors come from")
    parser.add_argument("--rate", type=float, default=29.0, help="mean events/s of that hour (the training volume)")
    parser.add_argument("--seed", type=int, default=0, help="market seed of that hour (the backfill's)")
    parser.add_argument("--events", type=int, default=50_000, help="auctions replayed in the next hour")
    parser.add_argument("--replay-seed", type=int, default=11)
    parser.add_argument("--chart", type=Path, default=Path("ab_model.png"))
    parser.add_argument("--challenger", default=None, metavar="VERSION",
                        help="also score with this version of the model lake's challenger slot ('current': the "
                             "challenger its manifest names) and replay champion vs challenger as the API splits them")
    args = parser.parse_args(argv)
    if bool(args.model_lake) == args.no_model:
        parser.error("give --model-lake or --no-model")
    hour = datetime.fromisoformat(args.hour.replace("Z", "+00:00")).astimezone(UTC)
    with standins.running_standins(stop_on_exit=True), tempfile.TemporaryDirectory(prefix="ab-model-") as tmp:
        props = job_floors(Path(tmp), hour, args.rate, args.seed, None if args.no_model else args.model_lake,
                           args.challenger)
        next_hour = hour + timedelta(hours=1)
        return ab_test.main(["--properties", str(props), "--at", next_hour.isoformat(), "--events", str(args.events),
                             "--seed", str(args.replay_seed), "--chart", str(args.chart),
                             *(["--arms"] if args.challenger else [])])


if __name__ == "__main__":
    sys.exit(main())
