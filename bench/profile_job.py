"""Where the full job spends its CPU: a Java Flight Recorder profile of one run.

Runs the full job (bench.job_throughput.full_job) on pre-generated events in a mini
cluster whose JVM records execution samples, then prints the methods that hold the
most samples: by self time (top frame), and grouped into the job's stages. Python
workers are separate processes: their share shows as time in the Python operator's
data exchange on the Java side.

    .venv/bin/python -m bench.profile_job --events 300000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

# Stages of the job, by a fragment of a frame's class or method name (first match wins). A sample
# belongs to the stage of the frame nearest the top of its stack: the work itself, not its caller.
STAGES: tuple[tuple[str, str], ...] = (
    ("kinesis/file source read", "FileSource|KinesisShardSplitReader|TextLineInputFormat|DeserializationSchema"),
    # Jackson frames belong to their caller: the connector's validation or Flink's JSON functions.
    ("parse + validate (AUCTION_PARSE, AUCTION_ROW_TIME)", "yield.connectors.validation"),
    ("JSON functions (JSON_VALUE/JSON_QUERY)", "SqlJsonUtils|JsonPath|jsonValue|jsonQuery"),
    ("Parquet writing", "parquet"),
    ("dedup (ROW_NUMBER)", "Deduplicate|RowTimeDeduplicate|ProcTimeDeduplicate|Rank"),
    ("window aggregate", "WindowAggOperator|SlicingWindow|window.tvf"),
    ("Python operator exchange", "python|Beam|beam"),
    ("DynamoDB sink", "yield.connectors.dynamodb"),
    ("state backend", "HeapKeyedStateBackend|StateTable|rocksdb"),
    ("serialization between operators", "Serializer|RecordWriter|SpanningRecordSerializer"),
    ("generated code (projections, filters)", "StreamExecCalc|GeneratedFunction|StreamExecCalc"),
)


def _frames(event: dict) -> list[str]:
    frames = event.get("values", {}).get("stackTrace", {}) or {}
    out = []
    for frame in frames.get("frames", []) or []:
        method = frame.get("method", {})
        cls = method.get("type", {}).get("name", "?")
        out.append(f"{cls}.{method.get('name', '?')}".replace("/", "."))  # JFR writes a/b/C
    return out


def _stage(frames: list[str]) -> str:
    """The stage of the frame nearest the top of the stack that belongs to one (self time by stage)."""
    for frame in frames:
        for stage, pattern in STAGES:
            if any(p in frame for p in pattern.split("|")):
                return stage
    return "other"


def summarize(jfr_file: Path, top: int = 25) -> tuple[Counter, Counter, int]:
    """(self samples by method, self samples by stage, total samples) of a recording."""
    jfr = shutil.which("jfr") or str(Path(os.environ.get("JAVA_HOME", "/usr")) / "bin" / "jfr")
    raw = subprocess.run(
        [jfr, "print", "--json", "--stack-depth", "64", "--events", "jdk.ExecutionSample", str(jfr_file)],
        check=True, capture_output=True, text=True,
    ).stdout
    events = json.loads(raw)["recording"]["events"]
    self_time: Counter = Counter()
    by_stage: Counter = Counter()
    task_samples = 0
    for event in events:
        frames = _frames(event)
        if not frames:
            continue
        # Only the task threads' work counts: idle gateway/RPC threads are not the job.
        thread = (event.get("values", {}).get("sampledThread") or {}).get("javaName") or ""
        if "(" not in thread and "Source" not in thread and "->" not in thread and "Sink" not in thread:
            continue
        task_samples += 1
        self_time[frames[0]] += 1
        by_stage[_stage(frames)] += 1
    return self_time, by_stage, task_samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="yield-profile-") as tmp:
        work = Path(tmp)
        recording = work / "job.jfr"
        # The PyFlink gateway JVM (and with it the mini cluster) starts with these arguments.
        os.environ["JVM_ARGS"] = f"-XX:StartFlightRecording=filename={recording},settings=profile,dumponexit=true"
        from bench.job_throughput import full_job, write_events
        from local_kinesis import standins

        events = work / "events.jsonl"
        write_events(events, args.events)
        with standins.running_standins(["moto"]):
            seconds = full_job(events, args.parallelism, work)
        print(f"full job: {args.events} events in {seconds:.1f} s ({args.events / seconds:,.0f} events/s)")
        # Dump the recording from the live gateway JVM (it would only be written at its exit).
        from pyflink.java_gateway import get_gateway

        dump = work / "dump.jfr"
        pid = get_gateway().jvm.ProcessHandle.current().pid()
        subprocess.run(["jcmd", str(pid), "JFR.dump", f"filename={dump}"], check=True, capture_output=True)
        self_time, by_stage, total = summarize(dump, args.top)
    print(f"\n{total} execution samples on task threads")
    print("\nshare by stage (each sample counts once, in the stage nearest its top frame):")
    for stage, n in by_stage.most_common():
        print(f"  {n / total:6.1%}  {stage}")
    print(f"\ntop {args.top} methods by self time:")
    for method, n in self_time.most_common(args.top):
        print(f"  {n / total:6.1%}  {method}")


if __name__ == "__main__":
    main()
