"""Job throughput on a file source: the full graph against a bare parse-and-count job.

The same pre-generated events (JSON lines, as they sit on the stream; one file per subtask, as
every subtask reads its shards on Kinesis) go through
(a) a bare Flink SQL job that only extracts the segment and counts per window,
and (b) the full job as shipped (validation, dedup, windows, features, floors with the revenue
policy, drift, all sinks, online feature records to the Feature Store stand-in),
at the same parallelism, in the same run, one after the other.

Two figures per job:

- steady state: events/s between the moments the source has emitted 20% and 90% of the events,
  read from the job's own counter (the source operator's numRecordsOut, polled from the mini
  cluster's REST API), so job start, the first JIT compilation and the final drain of the windows
  are outside it; beside it the CPU seconds the job's processes (the JVM and its Python workers)
  spent per million events over the same span, which other load on the machine does not change;
- end to end: events over the seconds from submit to finished (what the bench printed before).

Before the first measured run both jobs run once over a few events, unmeasured (WARMUP_EVENTS,
`--warmup-events`), so that neither measured span pays for compiling the framework's code.

Two optional jobs beside them, in the same run:

- `--rocksdb`: the full job on RocksDB, MSF's state backend, with the managed memory (RocksDB's
  block cache and write buffers) sized per slot like a KPU's (`--managed-mb-per-slot`, default
  KPU_MANAGED_MB_PER_SLOT): the capacity plan's figure (docs/capacity.md). The mini cluster's own
  default, 128 MB for all slots, makes RocksDB stall on writes.
- `--without-dedup`: the full job with the dedup view replaced by the on-time events themselves
  (an ablation, never shipped): the difference to the full job is what the dedup costs, its
  shuffle by impression_id and its keyed state.

During each steady-state span a Java Flight Recorder recording of execution samples runs on the
JVM (`--no-profile` turns it off); its samples are grouped into the job's stages (STAGES below) and
printed beside the figures. The JVM starts with Flight Recorder on (bench_jvm_args): the first
JFR.start in a running JVM throws away its compiled code (a JVMTI state change), and the span it
was meant to measure then ran largely interpreted, at about twice the CPU per event. A chart of
events/s over each run goes to bench/results/.

    .venv/bin/python -m bench.job_throughput --events 2000000 [--repeat 2] [--out bench/results]

Generated events are cached in .local/bench/ (generation takes longer than a run).
Before this bench read one file, which one source subtask read alone: every figure measured that
way (BENCHMARKS.md before issue 20) had everything chained to the source on one core.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from unittest import mock
from urllib.parse import quote

from flink_jobs import pipeline
from flink_jobs.config import load_config, write_properties
from flink_jobs.main import create_table_env
from flink_jobs.pipeline import auction_stream_ddl, file_source_options, register_functions
from local_kinesis import resources, standins
from local_runs.runner import start_job
from simulator.events import DEFAULT_START, encode, generate_events
from udfs.aws import aws_client

RATE = 580.0  # the production average, events/s of event time
ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".local" / "bench"
RESULTS = Path(__file__).resolve().parent / "results"
# The steady-state span: from the moment the source has emitted this share of the events to this one.
STEADY_FROM, STEADY_TO = 0.2, 0.9
# Each poll makes the mini cluster fetch every task metric, CPU spent in the very JVM measured; every
# 0.5 s still puts 30-60 polls in the span of 20%-90% of 1,000,000 events.
POLL_S = 0.5
# The checkpoint interval of the deployed application (deploy/cloudformation/yield-app.yaml,
# CheckpointIntervalMs): checkpoints cost per second, not per event, so a shorter one here would
# charge the events of this run with snapshots production takes six times less often.
CHECKPOINT_INTERVAL = "60 s"
# RocksDB's managed memory per slot in the --rocksdb run. A KPU has 1 GB of native memory (3 GB
# heap), which RocksDB shares with the network buffers, the JVM's metaspace and thread stacks; a
# quarter of it is the conservative share (512 MB and 1 GB per slot were faster still, docs/capacity.md).
KPU_MANAGED_MB_PER_SLOT = 256
# Both jobs run once over this many events before the first measured run, unmeasured: a job in
# production runs for days on compiled code, and without it the first job in the JVM paid for the
# JIT compilation of Flink's, the formats' and the connector's code inside its measured span.
WARMUP_EVENTS = 200_000
# Execution samples only: no event that instruments classes.
SAMPLES_JFC = Path(__file__).resolve().parent / "execution_samples.jfc"


def bench_jvm_args(existing: str = "", profile: bool = True) -> str:
    """JVM_ARGS for the PyFlink gateway JVM that runs every job of the bench, one after the other.

    Each job loads its own classes and generated operator code: with the default 240 MB code cache,
    its profiled part was 80% full after six jobs, where the JVM starts flushing compiled code (a
    TaskManager on MSF runs one job). With
    `profile`, Flight Recorder starts with the JVM: started later (jcmd JFR.start) it deoptimizes
    the JVM's compiled code mid-run; started at launch, the later span recordings cost nothing
    measurable (same CPU per event as no recording).
    """
    args = f"{existing} -XX:ReservedCodeCacheSize=1g"
    if profile:
        args += f" -XX:StartFlightRecording=name=launch,settings={SAMPLES_JFC},maxsize=20m"
    return args.strip()


def start_bench_jvm(profile: bool = True) -> None:
    """Start the PyFlink gateway JVM with bench_jvm_args, then give JVM_ARGS back: the JVMs started
    later (the local cluster of bench.savepoint_state, whose scripts read JVM_ARGS too) keep theirs."""
    from pyflink.java_gateway import get_gateway

    previous = os.environ.get("JVM_ARGS")
    os.environ["JVM_ARGS"] = bench_jvm_args(previous or "", profile)
    try:
        get_gateway()
    finally:
        if previous is None:
            del os.environ["JVM_ARGS"]
        else:
            os.environ["JVM_ARGS"] = previous


def write_events(path: Path, count: int, chunk: int = 200_000) -> None:
    with path.open("wb") as out:
        for start in range(0, count, chunk):
            # Consecutive chunks continue the clock, so event time stays in order across chunks.
            begin = DEFAULT_START + timedelta(seconds=start / RATE)
            events = generate_events(min(chunk, count - start), seed=start, start=begin, events_per_second=RATE)
            out.write(b"\n".join(encode(e) for e in events) + b"\n")


def cached_events(count: int) -> Path:
    """The events of write_events(count), generated once into .local/bench/ (they are seeded)."""
    path = CACHE / f"events-{count}.jsonl"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        t = time.perf_counter()
        write_events(partial, count)
        partial.rename(path)
        print(f"generated {count} events ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s",
              flush=True)
    return path


def split_events(count: int, files: int) -> Path:
    """The events of cached_events(count) dealt round robin into `files` files of one folder.

    The file source reads one split per file: from a single file only one source subtask would
    read, and everything chained to the source (parse, validation, raw/) would run on one core
    whatever the parallelism. On Kinesis every subtask reads its shards; so here every subtask
    reads its file. Each file stays in event-time order."""
    folder = CACHE / f"events-{count}-in-{files}"
    if not folder.exists():
        partial = folder.with_suffix(".tmp")
        partial.mkdir(parents=True, exist_ok=True)
        outs = [(partial / f"part-{i}.jsonl").open("wb") for i in range(files)]
        with cached_events(count).open("rb") as source:
            for i, event in enumerate(source):
                outs[i % files].write(event)
        for out in outs:
            out.close()
        partial.rename(folder)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metric_settings(port: int) -> dict[str, str]:
    """The mini cluster's REST API on `port`, its metrics refreshed every POLL_S (default 10 s)."""
    return {"rest.port": str(port), "metrics.fetcher.update-interval": str(int(POLL_S * 1000))}


# ---------------------------------------------------------------------------------------- profile

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
    ("generated code (projections, filters)", "StreamExecCalc|GeneratedFunction"),
)


def _frames(event: dict) -> list[str]:
    frames = event.get("values", {}).get("stackTrace", {}) or {}
    out = []
    for frame in frames.get("frames", []) or []:
        method = frame.get("method", {})
        cls = method.get("type", {}).get("name", "?")
        out.append(f"{cls}.{method.get('name', '?')}".replace("/", "."))  # JFR writes a/b/C
    return out


def _first_match(name: str, table: tuple[tuple[str, str], ...]) -> str | None:
    """The label of the first (label, "fragment|fragment") row with a fragment in `name`, else None."""
    return next((label for label, fragments in table if any(f in name for f in fragments.split("|"))), None)


def _stage(frames: list[str]) -> str:
    """The stage of the frame nearest the top of the stack that belongs to one (self time by stage)."""
    return next((stage for frame in frames if (stage := _first_match(frame, STAGES))), "other")


def summarize(jfr_file: Path) -> tuple[Counter, Counter, int]:
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


# ---------------------------------------------------------------------------------------- sampling


# Where the job's CPU goes, by the name of the thread that spent it (Linux keeps a thread name's first
# 15 characters): the task threads of the two operator chains every event crosses, the JVM's own
# work, and the Python workers (processes under the JVM). First match wins; the rest is "other".
CPU_PARTS: tuple[tuple[str, str], ...] = (
    ("source chain (read, parse, validate, raw/)", "Source: "),
    ("keyed chain (dedup, windows, drift)", "Deduplicate"),
    ("JIT compiler", "CompilerThre"),
    ("garbage collector", "GC Thread|G1 "),
)
PYTHON_WORKERS = "Python workers"
OTHER = "other"


def _ticks(stat: str) -> tuple[str, int, float]:
    """(name, parent pid, user + system CPU seconds) of a /proc stat line."""
    name = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()  # after the name, which may hold spaces
    return name, int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _part(thread: str) -> str:
    return _first_match(thread, CPU_PARTS) or OTHER


def _cpu_seconds(root: int) -> dict[str, float]:
    """CPU seconds of JVM `root` by part (CPU_PARTS, by thread) and of its live descendants (Python workers)."""
    parts: dict[str, float] = {}
    try:
        threads = os.listdir(f"/proc/{root}/task")
    except OSError:
        threads = []
    for tid in threads:
        try:
            name, _, seconds = _ticks(Path(f"/proc/{root}/task/{tid}/stat").read_text())
        except OSError:
            continue
        part = _part(name)
        parts[part] = parts.get(part, 0.0) + seconds
    processes: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                _, ppid, seconds = _ticks(Path(f"/proc/{entry}/stat").read_text())
            except OSError:
                continue
            processes[int(entry)] = (ppid, seconds)
    members, grew = {root}, True
    while grew:
        grew = False
        for pid, (ppid, _) in processes.items():
            if ppid in members and pid not in members:
                members.add(pid)
                grew = True
    parts[PYTHON_WORKERS] = sum(processes[p][1] for p in members - {root} if p in processes)
    return parts


def _jvm_pid() -> int:
    from pyflink.java_gateway import get_gateway

    return int(get_gateway().jvm.ProcessHandle.current().pid())


@dataclass
class Sample:
    t: float  # seconds since submit
    records: int  # the source's numRecordsOut, all subtasks
    cpu_parts: dict[str, float]  # CPU seconds of the JVM (by part) and its Python workers


class Sampler(threading.Thread):
    """Polls the source's records-out counter and the job's CPU seconds; records a JFR profile of
    the steady-state span when `profile` is a path."""

    def __init__(self, port: int, events: int, profile: Path | None):
        super().__init__(daemon=True)
        self.base = f"http://127.0.0.1:{port}"
        self.events = events
        self.profile = profile
        self.samples: list[Sample] = []
        self.started = time.perf_counter()
        self.jvm = _jvm_pid()
        self.done = threading.Event()
        self.profiled = False
        self._recording = False
        self._where: tuple[str, str, str] | None = None  # job id, source vertex id, metric id

    def _get(self, path: str):
        with urllib.request.urlopen(self.base + path, timeout=2) as response:
            return json.load(response)

    def _locate(self) -> tuple[str, str, str] | None:
        jobs = [j for j in self._get("/jobs/overview")["jobs"] if j["state"] == "RUNNING"]
        if not jobs:
            return None
        jid = jobs[0]["jid"]
        vertices = self._get(f"/jobs/{jid}")["vertices"]
        source = next(v for v in vertices if v["name"].startswith("Source: auction_stream"))
        names = [m["id"] for m in self._get(f"/jobs/{jid}/vertices/{source['id']}/subtasks/metrics")]
        metric = next((n for n in names if n.startswith("Source__auction_stream") and n.endswith(".numRecordsOut")),
                      None)
        return (jid, source["id"], metric) if metric else None

    def _records(self) -> int | None:
        if self._where is None:
            self._where = self._locate()
            if self._where is None:
                return None
        jid, vid, metric = self._where
        values = self._get(f"/jobs/{jid}/vertices/{vid}/subtasks/metrics?get={quote(metric)}&agg=sum")
        return int(float(values[0]["sum"])) if values else None

    def _jcmd(self, *args: str) -> None:
        """A JFR command to the JVM; a failure ends the profile, never the sampling or the bench."""
        try:
            subprocess.run(["jcmd", str(self.jvm), *args], check=True, capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as err:
            print(f"JFR {args[0]} failed ({err}): no profile for this run", flush=True)
            self.profile = None
            self._recording, self.profiled = False, True

    def run(self) -> None:
        while not self.done.wait(POLL_S):
            try:
                records = self._records()
            except (urllib.error.URLError, OSError, KeyError, IndexError, ValueError, StopIteration):
                continue
            if records is None:
                continue
            self.samples.append(Sample(time.perf_counter() - self.started, records, _cpu_seconds(self.jvm)))
            if self.profile is None:
                continue
            if not self._recording and not self.profiled and records >= STEADY_FROM * self.events:
                self._jcmd("JFR.start", "name=bench", f"settings={SAMPLES_JFC}")
                self._recording = True
            elif self._recording and records >= STEADY_TO * self.events:
                self._end_recording()

    def _end_recording(self) -> None:
        self._jcmd("JFR.dump", "name=bench", f"filename={self.profile}")
        if self.profile is not None:  # the dump worked
            self._jcmd("JFR.stop", "name=bench")
        self._recording, self.profiled = False, True

    def stop(self) -> None:
        self.done.set()
        self.join()
        if self._recording:  # the job ended before the end of the span: keep what was recorded
            self._end_recording()


@dataclass
class JobRun:
    """One job over the events: end to end and its steady-state span."""

    name: str
    events: int
    seconds: float  # submit to finished
    samples: list[Sample] = field(default_factory=list)
    stages: Counter = field(default_factory=Counter)  # JFR samples by stage over the span
    methods: Counter = field(default_factory=Counter)  # JFR samples by top frame
    profile_samples: int = 0

    @property
    def rate(self) -> float:
        """End to end events/s (job start and drain included)."""
        return self.events / self.seconds

    def _span(self) -> tuple[Sample, Sample] | None:
        lo = next((s for s in self.samples if s.records >= STEADY_FROM * self.events), None)
        hi = next((s for s in self.samples if s.records >= STEADY_TO * self.events), None)
        return (lo, hi) if lo and hi and hi.t > lo.t else None

    @property
    def steady_rate(self) -> float:
        span = self._span()
        return (span[1].records - span[0].records) / (span[1].t - span[0].t) if span else float("nan")

    @property
    def cpu_per_million(self) -> float:
        """CPU seconds (JVM + Python workers) per million events over the steady-state span."""
        parts = self.cpu_parts_per_million()
        return sum(parts.values()) if parts else float("nan")

    def cpu_parts_per_million(self) -> dict[str, float]:
        """CPU seconds per million events over the steady-state span, by part (CPU_PARTS)."""
        span = self._span()
        if not span:
            return {}
        events = span[1].records - span[0].records
        names = [p for p, _ in CPU_PARTS] + [PYTHON_WORKERS, OTHER]
        return {n: (span[1].cpu_parts.get(n, 0.0) - span[0].cpu_parts.get(n, 0.0)) / events * 1e6 for n in names}

    @property
    def rate_per_core(self) -> float:
        """Events per CPU second over the steady-state span: what one fully busy core would do."""
        return 1e6 / self.cpu_per_million

    def timeline(self, every_s: float = 2.0) -> list[tuple[float, float]]:
        """(seconds since submit, events/s over the preceding `every_s`) along the run."""
        out, last = [], None
        for s in self.samples:
            if last is None or s.t - last.t >= every_s:
                if last is not None:
                    out.append((s.t, (s.records - last.records) / (s.t - last.t)))
                last = s
        return out

    def top_stages(self, n: int = 5) -> list[tuple[str, float]]:
        total = sum(self.stages.values()) or 1
        return [(stage, count / total) for stage, count in self.stages.most_common(n)]


def _measured(name: str, events: int, port: int, profile: bool, work: Path, submit) -> JobRun:
    recording = work / f"{name}.jfr" if profile else None
    sampler = Sampler(port, events, recording)
    sampler.start()
    try:
        seconds = submit()
    finally:
        sampler.stop()
    run = JobRun(name, events, seconds, sampler.samples)
    if recording is not None and recording.exists():
        run.methods, run.stages, run.profile_samples = summarize(recording)
    return run


# ---------------------------------------------------------------------------------------- the jobs


def bare_job(path: Path, parallelism: int, settings: dict[str, str] | None = None) -> float:
    """Parse the segment fields and count per coarse segment and hourly window; discard the result.

    The same source table as the job (event time by AUCTION_ROW_TIME, hence the jar), the
    segment read with JSON_VALUE, no validation, dedup, features, scoring or sinks.
    """
    config = load_config()
    t_env = create_table_env(config, on_msf=False)
    base = {"parallelism.default": str(parallelism), "execution.checkpointing.interval": CHECKPOINT_INTERVAL}
    for key, value in (base | (settings or {})).items():
        t_env.get_config().set(key, value)
    register_functions(t_env)
    t_env.execute_sql(auction_stream_ddl(file_source_options(path.as_uri()), lateness_ms=30_000))
    t_env.execute_sql("CREATE TABLE counts (k STRING, w TIMESTAMP(3), n BIGINT) WITH ('connector' = 'blackhole')")
    started = time.perf_counter()
    t_env.execute_sql("""
INSERT INTO counts
SELECT k, window_start, COUNT(*) FROM TABLE(TUMBLE(
  (SELECT JSON_VALUE(payload, '$.format') || '|' || JSON_VALUE(payload, '$.inventory_type') || '|' ||
          JSON_VALUE(payload, '$.device_category') || '|' || JSON_VALUE(payload, '$.country') AS k, event_time
   FROM auction_stream),
  DESCRIPTOR(event_time), INTERVAL '1' HOUR))
GROUP BY k, window_start, window_end""").wait()
    return time.perf_counter() - started


def full_job(path: Path, parallelism: int, work: Path, overrides: dict[str, dict[str, str]] | None = None,
             settings: dict[str, str] | None = None) -> float:
    """Seconds for the full job over the file; `overrides` replace property values (e.g. FeatureStore).

    The job as shipped: every branch, Feature Store writes on (the local properties enable them),
    the floor policy of the properties (the revenue policy by default)."""
    groups = {
        "DataLake": {"path": (work / "lake").as_uri()},
        "FloorsTable": {"table.name": "bench-floors"},
        "FeatureStore": {"feature.group.name": "bench-features"},
        # The production window: per-event costs, not the stand-ins' write rates, set the figure
        # (10 s windows over this much event time would write ~170,000 floors and online records).
        "Job": {"parallelism": str(parallelism), "checkpoint.interval": CHECKPOINT_INTERVAL, "window.size": "1 h",
                "watermark.lateness": "30 s"},
    }
    for group, values in (overrides or {}).items():
        groups[group] = groups.get(group, {}) | values
    config = load_config(write_properties(work / "props.json", groups))
    ddb = aws_client("dynamodb", config.floors.endpoint, config.floors.region)
    params, ttl = resources.floors_table_params(config.floors.table_name)
    resources.create_table(ddb, params, ttl)
    store = config.feature_store
    if store is not None and store.enabled:
        sagemaker = aws_client("sagemaker", store.control_endpoint, store.region)
        resources.create_feature_group(sagemaker, resources.feature_group_params(store.feature_group_name, "bench"))
    started = time.perf_counter()
    job = start_job(config, file_source_options(path.as_uri()), work / "job", settings)
    job.result.wait()
    return time.perf_counter() - started


@dataclass
class Throughput:
    events: int
    parallelism: int
    bare: JobRun
    full: JobRun
    rocksdb: JobRun | None = None  # the full job on RocksDB, MSF's state backend (--rocksdb)
    without_dedup: JobRun | None = None  # the full job without its dedup (--without-dedup, an ablation)

    def jobs(self) -> list[JobRun]:
        return [r for r in (self.bare, self.full, self.rocksdb, self.without_dedup) if r is not None]

    @property
    def ratio(self) -> float:
        """Full over bare, end to end."""
        return self.full.rate / self.bare.rate

    @property
    def steady_ratio(self) -> float:
        return self.full.steady_rate / self.bare.steady_rate

    @property
    def cpu_ratio(self) -> float:
        """Bare CPU per event over full CPU per event: the ratio on a machine of its own."""
        return self.bare.cpu_per_million / self.full.cpu_per_million


def rocksdb_settings(parallelism: int, managed_mb_per_slot: int = KPU_MANAGED_MB_PER_SLOT) -> dict[str, str]:
    """RocksDB with `managed_mb_per_slot` of managed memory for each of the mini cluster's slots."""
    return {"state.backend.type": "rocksdb",
            "taskmanager.memory.managed.size": f"{managed_mb_per_slot * parallelism}m"}


def on_time_events_sql(kept: str, on_time: str) -> str:
    """pipeline.deduped_events_sql without the dedup: every on-time event, repeats included."""
    return f"CREATE TEMPORARY VIEW deduped_events AS SELECT {kept} FROM accepted_events WHERE {on_time}"


def run(events: int, parallelism: int, profile: bool = True, rocksdb: bool = False, without_dedup: bool = False,
        managed_mb_per_slot: int = KPU_MANAGED_MB_PER_SLOT, warmup_events: int = WARMUP_EVENTS) -> Throughput:
    """Both jobs over the same generated events, bare first; needs moto and the Feature Store stand-in.

    With `rocksdb`, the full job again on RocksDB (the state backend MSF runs), for the capacity
    plan; with `without_dedup`, the full job again without its dedup. The bare job and the
    full/bare ratios stay on the heap backend. With `warmup_events`, both jobs first run once,
    unmeasured, over that many events."""
    path = split_events(events, parallelism)
    with tempfile.TemporaryDirectory(prefix="yield-bench-") as tmp:
        work = Path(tmp)
        if warmup_events:
            print(f"warm-up: both jobs over {warmup_events:,} events, not measured", flush=True)
            small = split_events(warmup_events, parallelism)
            bare_job(small, parallelism)
            (work / "warm-up").mkdir()
            full_job(small, parallelism, work / "warm-up")

        def measured(name: str, settings: dict[str, str] | None = None, bare: bool = False,
                     profiled: bool = False) -> JobRun:
            port = free_port()
            job_work = work / name.replace(" ", "-")
            job_work.mkdir()
            job_settings = metric_settings(port) | (settings or {})
            submit = ((lambda: bare_job(path, parallelism, job_settings)) if bare
                      else (lambda: full_job(path, parallelism, job_work, settings=job_settings)))
            result = _measured(name, events, port, profiled, job_work, submit)
            print(line(result), flush=True)
            return result

        result = Throughput(events, parallelism, measured("bare", bare=True, profiled=profile),
                            measured("full", profiled=profile))
        if rocksdb:
            result.rocksdb = measured("full on RocksDB", rocksdb_settings(parallelism, managed_mb_per_slot))
        if without_dedup:
            with mock.patch.object(pipeline, "deduped_events_sql", on_time_events_sql):
                result.without_dedup = measured("full without dedup")
    return result


# ---------------------------------------------------------------------------------------- report


def line(r: JobRun) -> str:
    return (f"{r.name:4s} job: steady {r.steady_rate:9,.0f} events/s  {r.cpu_per_million:6.1f} CPU s per M events "
            f"({r.rate_per_core:9,.0f} events per CPU s)  end to end {r.seconds:6.1f} s {r.rate:9,.0f} events/s")


def report_lines(results: list[Throughput], top: int = 5) -> list[str]:
    t = results[0]
    lines = [f"{t.events:,} events from {t.parallelism} files (one per source subtask), parallelism {t.parallelism}, "
             "hourly windows; "
             f"steady state = from {STEADY_FROM:.0%} to {STEADY_TO:.0%} of the events read by the source.", "",
             "| run | job | steady events/s | CPU s per M events | events per CPU s | end-to-end s "
             "| end-to-end events/s | full/bare steady | full/bare CPU |",
             "|---|---|---|---|---|---|---|---|---|"]
    for i, t in enumerate(results, 1):
        for r in t.jobs():
            ratios = "1.00 | 1.00" if r is t.bare else (f"{r.steady_rate / t.bare.steady_rate:.2f} | "
                                                         f"{t.bare.cpu_per_million / r.cpu_per_million:.2f}")
            lines.append(f"| {i} | {r.name} | {r.steady_rate:,.0f} | {r.cpu_per_million:.1f} | {r.rate_per_core:,.0f} "
                         f"| {r.seconds:.1f} | {r.rate:,.0f} | {ratios} |")
    last = results[-1]
    jobs = [r for r in last.jobs() if r.cpu_parts_per_million()]
    if jobs:
        lines += ["", f"CPU seconds per million events over the steady state, by part (run {len(results)}; "
                  "threads by name, CPU_PARTS):", "",
                  "| part | " + " | ".join(r.name for r in jobs) + " |", "|---|" + "---|" * len(jobs)]
        for part in jobs[0].cpu_parts_per_million():
            lines.append(f"| {part} | " + " | ".join(f"{r.cpu_parts_per_million()[part]:.1f}" for r in jobs) + " |")
    for r in (last.full, last.bare):
        if r.profile_samples:
            lines += ["", f"Top stages of the {r.name} job's steady state (JFR, {r.profile_samples} samples on task "
                      "threads, STAGES):", ""]
            lines += [f"- {share:6.1%}  {stage}" for stage, share in r.top_stages(top)]
            total = r.profile_samples
            lines += ["", f"Top methods of the {r.name} job by self time:", ""]
            lines += [f"- {n / total:6.1%}  `{m}`" for m, n in r.methods.most_common(top)]
    return lines


def chart(results: list[Throughput], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.6))
    colors = {"bare": "#4c72b0", "full": "#dd8452", "full on RocksDB": "#55a868", "full without dedup": "#8172b3"}
    for i, t in enumerate(results):
        for r in t.jobs():
            points = r.timeline()
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, color=colors[r.name], alpha=1.0 if i == len(results) - 1 else 0.4,
                        label=f"{r.name} (run {i + 1}): steady {r.steady_rate:,.0f}/s")
    ax.axhline(50_000, color="grey", linestyle=":", label="goal 50,000/s")
    ax.set_xlabel("seconds since submit")
    ax.set_ylabel("events/s (source, 2 s steps)")
    ax.set_title(f"Job throughput over the run, {results[0].events:,} events, parallelism {results[0].parallelism}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="bare then full, this many times")
    parser.add_argument("--no-profile", action="store_true", help="no JFR recording of the steady state")
    parser.add_argument("--rocksdb", action="store_true",
                        help="also the full job on RocksDB (MSF's state backend), for the capacity plan")
    parser.add_argument("--managed-mb-per-slot", type=int, default=KPU_MANAGED_MB_PER_SLOT,
                        help="RocksDB's managed memory per slot in the --rocksdb job")
    parser.add_argument("--warmup-events", type=int, default=WARMUP_EVENTS,
                        help="both jobs once over this many events before the first measured run (0: none)")
    parser.add_argument("--without-dedup", action="store_true",
                        help="also the full job without its dedup (an ablation: what the dedup costs)")
    parser.add_argument("--out", type=Path, default=None,
                        help="write job_throughput.md and job_throughput.png here (e.g. bench/results)")
    args = parser.parse_args()
    start_bench_jvm(profile=not args.no_profile)
    results = []
    with standins.running_standins(["moto", "feature-store"]):
        for _ in range(args.repeat):
            results.append(run(args.events, args.parallelism, profile=not args.no_profile, rocksdb=args.rocksdb,
                               without_dedup=args.without_dedup, managed_mb_per_slot=args.managed_mb_per_slot,
                               warmup_events=0 if results else args.warmup_events))
            t = results[-1]
            print(f"full / bare: steady {t.steady_ratio:.2f}, CPU per event {t.cpu_ratio:.2f}, "
                  f"end to end {t.ratio:.2f}", flush=True)
    text = "\n".join(report_lines(results))
    print("\n" + text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        chart(results, args.out / "job_throughput.png")
        flags = (("--rocksdb", args.rocksdb), ("--without-dedup", args.without_dedup))
        options = "".join(f" {flag}" for flag, on in flags if on)
        if args.warmup_events != WARMUP_EVENTS:
            options += f" --warmup-events {args.warmup_events}"
        if args.rocksdb and args.managed_mb_per_slot != KPU_MANAGED_MB_PER_SLOT:
            options += f" --managed-mb-per-slot {args.managed_mb_per_slot}"
        (args.out / "job_throughput.md").write_text(
            "# Job throughput\n\nWritten by `python -m bench.job_throughput "
            f"--events {args.events} --repeat {args.repeat}{options} --out bench/results`.\n\n{text}\n\n"
            "![events/s over the run](job_throughput.png)\n", encoding="utf-8")


if __name__ == "__main__":
    main()
