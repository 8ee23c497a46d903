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
import os
import subprocess
import tempfile
from pathlib import Path

# The stages and the summary of a recording live in bench.job_throughput, which prints them beside
# its figures; this module only records one run.
from bench.job_throughput import summarize


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
        self_time, by_stage, total = summarize(dump)
    print(f"\n{total} execution samples on task threads")
    print("\nshare by stage (each sample counts once, in the stage nearest its top frame):")
    for stage, n in by_stage.most_common():
        print(f"  {n / total:6.1%}  {stage}")
    print(f"\ntop {args.top} methods by self time:")
    for method, n in self_time.most_common(args.top):
        print(f"  {n / total:6.1%}  {method}")


if __name__ == "__main__":
    main()
