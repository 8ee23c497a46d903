"""A local Flink standalone cluster next to the mini cluster: one JobManager, two TaskManagers.

The PyFlink pip package ships a whole Flink distribution (bin/, lib/, opt/); this module runs
it as a session cluster on loopback, the way MSF runs the job: submitted with `flink run -py`,
stopped with a savepoint, resumed from it at another parallelism, restarted from its last
checkpoint when a TaskManager dies.

CLI (or the make targets `cluster-start`, `cluster-submit`, ...)::

    python -m local_runs.cluster start
    python -m local_runs.cluster submit --parallelism 2 [--savepoint PATH] [--properties FILE]
    python -m local_runs.cluster savepoint            # stop WITHOUT draining: windows stay open
    python -m local_runs.cluster resume --savepoint PATH --parallelism 4
    python -m local_runs.cluster status
    python -m local_runs.cluster stop

`submit` and `resume` first create the stream, bucket and table on the stand-ins (idempotent).
Everything the cluster writes lives under `.local/flink/` (conf/, log/, run/ for pid files,
checkpoints/, savepoints/). The job reads its properties from `$YIELD_PROPERTIES` (or
flink_jobs/application_properties.json); the submitted copy gets `Job.parallelism` = the
requested parallelism, because the job sets `parallelism.default` from that property.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import BotoCoreError, ClientError

from flink_jobs.config import PROPERTIES_ENV, ConfigError, load_config, properties_path, write_properties
from local_kinesis import resources

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
JOB_ENTRY = REPO_ROOT / "flink_jobs" / "main.py"


class ClusterError(RuntimeError):
    """The cluster or a job on it is not in the state an operation needs; the message says what to do."""


def flink_home() -> Path:
    """The Flink distribution inside the installed PyFlink package."""
    spec = importlib.util.find_spec("pyflink")
    if spec is None or not spec.submodule_search_locations:
        raise ClusterError("PyFlink is not installed in this Python: run `make venv`")
    home = Path(list(spec.submodule_search_locations)[0])
    if not (home / "bin" / "jobmanager.sh").exists():
        raise ClusterError(f"{home} holds no Flink distribution (bin/jobmanager.sh missing)")
    return home


@dataclass(frozen=True)
class Cluster:
    """Where a local cluster lives and which ports it uses (all on loopback)."""

    home: Path = REPO_ROOT / ".local" / "flink"
    rest_port: int = 8181
    jobmanager_rpc_port: int = 6123
    taskmanager_rpc_ports: str = "6124-6127"
    blob_port: int = 5170
    taskmanagers: int = 2
    slots_per_taskmanager: int = 2  # 2 x 2 slots: enough for parallelism 4
    state_backend: str = "rocksdb"  # what MSF uses; "hashmap" keeps state on the JVM heap
    # An S3 endpoint (the S3 stand-in, or a fault proxy in front of it) for s3a:// lakes: the
    # connector's flink-s3-fs-hadoop is then loaded as a plugin, as MSF loads it. None: no S3.
    s3_endpoint: str | None = None

    @property
    def conf_dir(self) -> Path:
        return self.home / "conf"

    @property
    def log_dir(self) -> Path:
        return self.home / "log"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def checkpoints_dir(self) -> Path:
        return self.home / "checkpoints"

    @property
    def savepoints_dir(self) -> Path:
        return self.home / "savepoints"

    @property
    def rest_url(self) -> str:
        return f"http://{HOST}:{self.rest_port}"

    @property
    def slots(self) -> int:
        return self.taskmanagers * self.slots_per_taskmanager


def cluster_settings(cluster: Cluster) -> dict[str, Any]:
    """The cluster's own settings, on top of the distribution's config.yaml."""
    python = sys.executable
    return {
        "jobmanager.rpc.address": HOST,
        "jobmanager.rpc.port": cluster.jobmanager_rpc_port,
        "jobmanager.bind-host": HOST,
        "jobmanager.memory.process.size": "1024m",
        "taskmanager.host": HOST,
        "taskmanager.bind-host": HOST,
        "taskmanager.rpc.port": cluster.taskmanager_rpc_ports,
        "taskmanager.numberOfTaskSlots": cluster.slots_per_taskmanager,
        "taskmanager.memory.process.size": "1600m",
        # Spread a job's slots over both TaskManagers (losing either one hits the job).
        "taskmanager.load-balance.mode": "SLOTS",
        "rest.address": HOST,
        "rest.bind-address": HOST,
        "rest.port": cluster.rest_port,
        "blob.server.port": cluster.blob_port,
        "state.backend.type": cluster.state_backend,
        "execution.checkpointing.dir": cluster.checkpoints_dir.as_uri(),
        "execution.checkpointing.savepoint-dir": cluster.savepoints_dir.as_uri(),
        # Keep the last checkpoints after a cancel too: an operator can resume from one with -s.
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        # A failed task (a TaskManager killed) restarts the job from its last checkpoint.
        "restart-strategy.type": "fixed-delay",
        "restart-strategy.fixed-delay.attempts": 20,
        "restart-strategy.fixed-delay.delay": "5 s",
        # Notice a dead TaskManager in seconds rather than the default 50 s.
        "heartbeat.interval": 2000,
        "heartbeat.timeout": 15000,
        # The venv's Python runs the client (`flink run -py`) and the Python workers.
        "python.executable": python,
        "python.client.executable": python,
    } | (s3_settings(cluster.s3_endpoint) if cluster.s3_endpoint else {})


S3_PLUGIN = REPO_ROOT / "connector" / "target" / "plugins" / "s3-fs-hadoop"


def s3_settings(endpoint: str) -> dict[str, Any]:
    """flink-s3-fs-hadoop against a local S3 endpoint (its `s3.*` keys are Hadoop's `fs.s3a.*`).
    Short timeouts and few retries: a test of an S3 outage sees the failure in seconds."""
    return {
        "s3.endpoint": endpoint,
        "s3.path.style.access": True,
        "s3.access-key": "testing",  # the stand-in takes any key
        "s3.secret-key": "testing",
        "s3.connection.establish.timeout": 2000,
        "s3.connection.timeout": 5000,
        "s3.attempts.maximum": 2,
        "s3.retry.limit": 2,
    }


def write_conf(cluster: Cluster) -> Path:
    """conf/ = the distribution's log settings + config.yaml with the cluster's settings."""
    dist_conf = flink_home() / "conf"
    for folder in (cluster.conf_dir, cluster.log_dir, cluster.run_dir, cluster.checkpoints_dir,
                   cluster.savepoints_dir):
        folder.mkdir(parents=True, exist_ok=True)
    # lib/ = the distribution's jars + flink-python from opt/: the Python operators run in the
    # cluster's JVMs (MSF has it in lib/ too). Links, so the shared venv is never modified.
    lib = cluster.home / "lib"
    lib.mkdir(exist_ok=True)
    dist = flink_home()
    for jar in [*sorted((dist / "lib").glob("*.jar")), *sorted((dist / "opt").glob("flink-python-*.jar"))]:
        link = lib / jar.name
        if not link.exists():
            link.symlink_to(jar)
    if cluster.s3_endpoint:
        if not any(S3_PLUGIN.glob("*.jar")):
            raise ClusterError(f"no S3 filesystem plugin in {S3_PLUGIN}: run `make jar`")
        plugin = cluster.home / "plugins" / "s3-fs-hadoop"
        plugin.mkdir(parents=True, exist_ok=True)
        for jar in S3_PLUGIN.glob("*.jar"):
            if not (plugin / jar.name).exists():
                (plugin / jar.name).symlink_to(jar)
    for name in ("log4j-console.properties", "log4j-cli.properties", "log4j.properties", "logback-console.xml"):
        (cluster.conf_dir / name).write_bytes((dist_conf / name).read_bytes())
    base = yaml.safe_load((dist_conf / "config.yaml").read_text(encoding="utf-8"))
    # The distribution's file is nested, ours flat: flatten it (it holds the JVM options Java 17
    # needs, among others) so that our keys replace its keys rather than sit next to them.
    settings = _flatten(base) | cluster_settings(cluster)
    path = cluster.conf_dir / "config.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=True), encoding="utf-8")
    return path


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= _flatten(value, name + ".")
        else:
            flat[name] = value
    return flat


def _env(cluster: Cluster) -> dict[str, str]:
    """A clean environment for the Flink scripts: no inherited PyFlink/Flink settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYFLINK", "FLINK_", "_PYFLINK"))}
    env |= {
        "FLINK_CONF_DIR": str(cluster.conf_dir),
        "FLINK_LOG_DIR": str(cluster.log_dir),
        "FLINK_PID_DIR": str(cluster.run_dir),
    }
    if cluster.s3_endpoint:
        env["FLINK_PLUGINS_DIR"] = str(cluster.home / "plugins")
    return env


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((HOST, port)) == 0


def rest(cluster: Cluster, path: str, body: dict[str, Any] | None = None, method: str | None = None) -> Any:
    """One call to the JobManager's REST API; JSON in and out."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(cluster.rest_url + path, data=data, method=method or ("POST" if data else "GET"),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        raise ClusterError(f"{method or 'GET'} {path}: HTTP {err.code}: {err.read().decode(errors='replace')}") from err
    except (urllib.error.URLError, ConnectionError) as err:
        raise ClusterError(f"no Flink cluster answers on {cluster.rest_url} ({err}): run `make cluster-start`") from err


def _pid_file(cluster: Cluster, process: str) -> Path:
    return cluster.run_dir / f"{process}.pid"


def _read_pid(cluster: Cluster, process: str) -> int | None:
    try:
        pid = int(_pid_file(cluster, process).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    _reap(pid)  # a child of this process that has exited is gone, not a zombie "still running"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def taskmanager_names(cluster: Cluster) -> list[str]:
    return [f"taskmanager-{i}" for i in range(1, cluster.taskmanagers + 1)]


def _start_process(cluster: Cluster, process: str) -> int:
    """Run jobmanager.sh / taskmanager.sh in the foreground of a detached session (pid = the JVM)."""
    script = "jobmanager.sh" if process == "jobmanager" else "taskmanager.sh"
    log = open(cluster.log_dir / f"{process}.out", "ab")  # noqa: SIM115 - handed to the child
    env = _env(cluster) | {"FLINK_LIB_DIR": str(cluster.home / "lib")}
    child = subprocess.Popen([str(flink_home() / "bin" / script), "start-foreground"], env=env,
                             cwd=cluster.home, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
    _pid_file(cluster, process).write_text(str(child.pid))
    return child.pid


def start_taskmanager(cluster: Cluster, name: str) -> int:
    if _read_pid(cluster, name):
        raise ClusterError(f"{name} is already running")
    return _start_process(cluster, name)


def kill_taskmanager(cluster: Cluster, name: str) -> int:
    """SIGKILL one TaskManager, as a crashed machine would die (tests)."""
    pid = _read_pid(cluster, name)
    if pid is None:
        raise ClusterError(f"{name} is not running")
    os.kill(pid, signal.SIGKILL)
    while _read_pid(cluster, name):
        _reap(pid)
        time.sleep(0.1)
    return pid


def _children(pid: int) -> list[int]:
    """The direct children of a process (Linux /proc; every thread's list)."""
    found: list[int] = []
    for tasks in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in tasks.read_text().split()]
    return found


def python_workers(cluster: Cluster) -> list[int]:
    """The Python worker processes (PyFlink's Beam workers) the TaskManagers started, deepest first."""
    workers: list[int] = []
    pending = [pid for name in taskmanager_names(cluster) if (pid := _read_pid(cluster, name))]
    while pending:
        pid = pending.pop()
        for child in _children(pid):
            pending.append(child)
            with contextlib.suppress(OSError):
                command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if "pyflink" in command:
                    workers.append(child)
    return workers[::-1]


def kill_python_workers(cluster: Cluster) -> list[int]:
    """SIGKILL every Python worker of the cluster's TaskManagers, as an out-of-memory kill would (tests).
    The TaskManagers stay up: only the tasks that called into Python fail."""
    killed = python_workers(cluster)
    if not killed:
        raise ClusterError("no Python worker is running (is a job with Python functions running?)")
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return killed


def overview(cluster: Cluster) -> dict[str, Any]:
    return rest(cluster, "/overview")


def start(cluster: Cluster, timeout_s: float = 120.0, say=print) -> dict[str, Any]:
    """Start the JobManager and the TaskManagers; return once every slot is registered."""
    if _read_pid(cluster, "jobmanager"):
        raise ClusterError(f"a cluster is already running from {cluster.home}: `make cluster-status` or `cluster-stop`")
    busy = [p for p in (cluster.rest_port, cluster.jobmanager_rpc_port, cluster.blob_port) if _port_open(p)]
    if busy:
        raise ClusterError(f"port(s) {busy} on {HOST} already in use by another process; pick others")
    write_conf(cluster)
    say(f"config: {cluster.conf_dir / 'config.yaml'} (state backend {cluster.state_backend}, "
        f"{cluster.taskmanagers} TaskManagers x {cluster.slots_per_taskmanager} slots)")
    say(f"starting the JobManager (REST {cluster.rest_url}, RPC {cluster.jobmanager_rpc_port})")
    _start_process(cluster, "jobmanager")
    for name in taskmanager_names(cluster):
        say(f"starting {name}")
        _start_process(cluster, name)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            info = overview(cluster)
            if info.get("slots-total", 0) >= cluster.slots:
                say(f"cluster up: {info['taskmanagers']} TaskManagers, {info['slots-total']} slots; "
                    f"web UI {cluster.rest_url}; logs {cluster.log_dir}")
                return info
        except ClusterError:
            pass
        dead = [p for p in ["jobmanager", *taskmanager_names(cluster)] if _read_pid(cluster, p) is None]
        if dead or time.monotonic() > deadline:
            stop(cluster, say=lambda _m: None)
            why = (f"{', '.join(dead)} exited" if dead
                   else f"not all {cluster.slots} slots registered in {timeout_s:.0f} s")
            raise ClusterError(f"cluster did not start: {why}; see {cluster.log_dir}")
        time.sleep(1.0)


def stop(cluster: Cluster, grace_s: float = 20.0, say=print) -> list[str]:
    """Stop every process this cluster started (TaskManagers first). Running jobs are lost:
    take a savepoint first (`cluster-savepoint`)."""
    stopped = []
    for name in [*taskmanager_names(cluster), "jobmanager"]:
        pid = _read_pid(cluster, name)
        if pid is None:
            _pid_file(cluster, name).unlink(missing_ok=True)
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while _read_pid(cluster, name) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.2)
        if _read_pid(cluster, name):
            os.kill(pid, signal.SIGKILL)
        _reap(pid)
        _pid_file(cluster, name).unlink(missing_ok=True)
        stopped.append(name)
        say(f"stopped {name} (pid {pid})")
    if not stopped:
        say(f"no cluster running from {cluster.home}")
    return stopped


def _reap(pid: int) -> None:
    """Collect a child started by this process (tests), so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def jobs(cluster: Cluster) -> list[dict[str, Any]]:
    return rest(cluster, "/jobs/overview")["jobs"]


def running_job(cluster: Cluster) -> str:
    """The id of the one running job (the cluster runs the predictive-yield job only)."""
    running = [j["jid"] for j in jobs(cluster) if j["state"] in ("RUNNING", "RESTARTING", "CREATED", "INITIALIZING")]
    if not running:
        raise ClusterError("no job is running on the cluster: `make cluster-submit`")
    if len(running) > 1:
        raise ClusterError(f"several jobs are running ({', '.join(running)}): name one with --job")
    return running[0]


def job_properties(cluster: Cluster, parallelism: int, source: Path | None = None) -> Path:
    """The properties the submitted job reads: the given file (or $YIELD_PROPERTIES, or the
    local file) with Job.parallelism set to the parallelism asked for, checked before submitting."""
    source = source or properties_path()
    path = cluster.home / f"job_properties_p{parallelism}.json"
    write_properties(path, {"Job": {"parallelism": str(parallelism)}}, base=source)
    config = load_config(path, cwd=REPO_ROOT)
    if parallelism > cluster.slots:
        raise ClusterError(f"parallelism {parallelism} needs {parallelism} slots; the cluster has {cluster.slots}")
    if parallelism > config.job.max_parallelism:
        raise ConfigError(f"parallelism {parallelism} is above Job.max.parallelism = {config.job.max_parallelism}")
    return path


def submit(cluster: Cluster, parallelism: int, properties: Path | None = None, savepoint: str | None = None,
           timeout_s: float = 600.0, say=print) -> str:
    """`flink run -d -py flink_jobs/main.py -p N [-s SAVEPOINT]`; return the job id once every task runs."""
    overview(cluster)  # a clear error when no cluster is up
    props = job_properties(cluster, parallelism, properties)
    jar = REPO_ROOT / "connector" / "target" / Path(load_config(props, cwd=REPO_ROOT).jarfile).name
    if not jar.exists():
        raise ClusterError(f"connector jar {jar} not found: run `make jar`")
    command = [str(flink_home() / "bin" / "flink"), "run", "--detached", "-m", f"{HOST}:{cluster.rest_port}",
               "-p", str(parallelism), "-py", str(JOB_ENTRY)]
    if savepoint:
        command[2:2] = ["--fromSavepoint", savepoint]
    say(f"submitting the job at parallelism {parallelism}" + (f" from {savepoint}" if savepoint else "")
        + f" (properties {props})")
    env = _env(cluster) | {PROPERTIES_ENV: str(props)}
    done = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout_s)
    output = done.stdout + done.stderr
    match = re.search(r"JobID ([0-9a-f]{32})", output)
    if done.returncode != 0 or not match:
        raise ClusterError(f"`flink run` failed (exit {done.returncode}):\n{output[-4000:]}")
    job_id = match.group(1)
    wait_running(cluster, job_id, timeout_s)
    say(f"job {job_id} running at parallelism {parallelism}")
    return job_id


def wait_running(cluster: Cluster, job_id: str, timeout_s: float = 300.0) -> None:
    """Until the job and every one of its tasks are RUNNING (a restore has finished loading state)."""
    deadline = time.monotonic() + timeout_s
    while True:
        job = rest(cluster, f"/jobs/{job_id}")
        if job["state"] in ("FAILED", "CANCELED", "FINISHED"):
            raise ClusterError(f"job {job_id} ended with {job['state']}: {failure(cluster, job_id)}")
        tasks = job.get("status-counts") or {}
        if job["state"] == "RUNNING" and set(tasks) <= {"RUNNING"} | {s for s, n in tasks.items() if n == 0}:
            return
        if time.monotonic() > deadline:
            raise ClusterError(
                f"job {job_id} not running after {timeout_s:.0f} s (state {job['state']}, tasks {tasks})")
        time.sleep(0.5)


def failure(cluster: Cluster, job_id: str) -> str:
    root = rest(cluster, f"/jobs/{job_id}/exceptions").get("rootException") or "no exception recorded"
    return root.strip().splitlines()[0] if root else root


def stop_with_savepoint(cluster: Cluster, job_id: str | None = None, drain: bool = False,
                        timeout_s: float = 300.0, say=print) -> str:
    """Stop the job with a canonical savepoint and return its path.

    Not draining by default: a drain advances event time to the end, fires every open window
    and makes every later event of those windows late. Drain only to end the job for good.
    """
    job_id = job_id or running_job(cluster)
    say(f"stopping job {job_id} with a savepoint{' (drain)' if drain else ''} into {cluster.savepoints_dir}")
    trigger = rest(cluster, f"/jobs/{job_id}/stop", {
        "targetDirectory": cluster.savepoints_dir.as_uri(), "drain": drain, "formatType": "CANONICAL"})["request-id"]
    deadline = time.monotonic() + timeout_s
    while True:
        answer = rest(cluster, f"/jobs/{job_id}/savepoints/{trigger}")
        if answer["status"]["id"] == "COMPLETED":
            operation = answer.get("operation") or {}
            if "failure-cause" in operation:
                cause = operation["failure-cause"].get("stack-trace", "").strip().splitlines()
                raise ClusterError(f"savepoint of job {job_id} failed: {cause[0] if cause else operation}")
            path = operation["location"]
            say(f"savepoint {path}")
            return path
        if time.monotonic() > deadline:
            raise ClusterError(f"savepoint of job {job_id} not done after {timeout_s:.0f} s")
        time.sleep(0.5)


def status(cluster: Cluster, say=print) -> dict[str, Any]:
    processes = {p: _read_pid(cluster, p) for p in ["jobmanager", *taskmanager_names(cluster)]}
    for name, pid in processes.items():
        say(f"{name:14} {'pid ' + str(pid) if pid else 'not running'}")
    try:
        info = overview(cluster)
    except ClusterError as err:
        say(str(err))
        return {"processes": processes}
    say(f"{cluster.rest_url}: {info['taskmanagers']} TaskManagers, {info['slots-available']}/{info['slots-total']} "
        "slots free")
    listed = jobs(cluster)
    for job in listed:
        say(f"job {job['jid']} {job['name']} {job['state']}")
    return {"processes": processes, "overview": info, "jobs": listed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_runs.cluster", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("start", help="JobManager + two TaskManagers")
    sub.add_parser("stop", help="stop every process of the cluster (running jobs are lost)")
    sub.add_parser("status", help="processes, slots, jobs")
    for name in ("submit", "resume"):
        what = "flink run -py flink_jobs/main.py" + (" from a savepoint" if name == "resume" else "")
        cmd = sub.add_parser(name, help=what)
        cmd.add_argument("--parallelism", "-p", type=int, required=True)
        cmd.add_argument("--savepoint", "-s", required=name == "resume", default=None)
        cmd.add_argument("--properties", type=Path, default=None, help="default: $YIELD_PROPERTIES or the local file")
    save = sub.add_parser("savepoint", help="stop the running job with a savepoint (no drain)")
    save.add_argument("--job", default=None)
    save.add_argument("--drain", action="store_true", help="also fire every open window (end of the job)")
    args = parser.parse_args(argv)
    cluster = Cluster()
    try:
        if args.command == "start":
            start(cluster)
        elif args.command == "stop":
            stop(cluster)
        elif args.command == "status":
            status(cluster)
        elif args.command in ("submit", "resume"):
            overview(cluster)  # no cluster: say so before touching anything
            # The stream, bucket and table on the stand-ins (idempotent), as `make run` does.
            resources.create_all(load_config(args.properties or properties_path(), cwd=REPO_ROOT))
            submit(cluster, args.parallelism, args.properties, args.savepoint)
        elif args.command == "savepoint":
            stop_with_savepoint(cluster, args.job, drain=args.drain)
    except (ClusterError, ConfigError, resources.ResourceError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as err:
        print(f"error: the stand-ins did not answer ({err}): `make standins-start`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
