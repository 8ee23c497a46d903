"""Start, health-check and stop the local stand-ins.

CLI::

    python -m local_kinesis.standins start  [--with-kinesalite]
    python -m local_kinesis.standins status [--with-kinesalite]
    python -m local_kinesis.standins stop

Stand-ins (all on 127.0.0.1):

- kinesis-local (kinesis-mock): https :4567, http :4568
- moto_server (S3, DynamoDB, CloudWatch, SageMaker): http :5055
- kinesalite: http :4569, and its StreamARN shim: http :4570 (optional)
- feature-store (SageMaker Feature Store runtime, ``local_kinesis.feature_store``): http :5060
  (the job writes online feature records to it; it asks moto for the feature groups)

Runtime files live in ``.local/`` at the repo root: pid files in ``.local/run/``,
logs in ``.local/logs/<name>.log``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_kinesis import PACKAGE_DIR, REPO_ROOT

LOCAL_DIR = REPO_ROOT / ".local"
RUN_DIR = LOCAL_DIR / "run"
LOG_DIR = LOCAL_DIR / "logs"
NODE_MODULES = PACKAGE_DIR / "node_modules"

HOST = "127.0.0.1"
KINESIS_LOCAL_TLS_PORT = 4567
KINESIS_LOCAL_PLAIN_PORT = 4568
MOTO_PORT = 5055
KINESALITE_PORT = 4569
SHIM_PORT = 4570
FEATURE_STORE_PORT = 5060

KINESIS_LOCAL_ENDPOINT = f"https://{HOST}:{KINESIS_LOCAL_TLS_PORT}"
KINESIS_LOCAL_PLAIN_ENDPOINT = f"http://{HOST}:{KINESIS_LOCAL_PLAIN_PORT}"
MOTO_ENDPOINT = f"http://{HOST}:{MOTO_PORT}"
KINESALITE_ENDPOINT = f"http://{HOST}:{KINESALITE_PORT}"
SHIM_ENDPOINT = f"http://{HOST}:{SHIM_PORT}"
FEATURE_STORE_ENDPOINT = f"http://{HOST}:{FEATURE_STORE_PORT}"

HEALTH_REGION = "eu-west-1"
# Set to 1 to run the node stand-ins without the loopback preload (they then listen on all interfaces).
NO_LOOPBACK_ENV = "LOCAL_STANDINS_NO_LOOPBACK_PATCH"

# Neither kinesis-local (host hard-coded to 0.0.0.0) nor kinesalite (no host option) can
# be told where to bind. This ES module, preloaded with `node --import`, rewrites a
# wildcard listen address to 127.0.0.1 before the server sees it. If it stops working
# (a new node, another listen path) the bind check below still warns.
_LOOPBACK_PRELOAD_JS = """
import net from "node:net";
const listen = net.Server.prototype.listen;
const wild = (h) => h === undefined || h === null || h === "" || h === "0.0.0.0" || h === "::";
net.Server.prototype.listen = function (...args) {
  if (args[0] !== null && typeof args[0] === "object") {
    if (args[0].path === undefined && wild(args[0].host)) args[0] = { ...args[0], host: "127.0.0.1" };
  } else if (typeof args[0] === "number" || (typeof args[0] === "string" && /^[0-9]+$/.test(args[0]))) {
    if (typeof args[1] === "string") { if (wild(args[1])) args[1] = "127.0.0.1"; }
    else args.splice(1, 0, "127.0.0.1");
  }
  return listen.apply(this, args);
};
"""


class StandInError(RuntimeError):
    """A stand-in failed to start or to answer; the message names its log file."""


# --------------------------------------------------------------------------- helpers


def log_path(name: str) -> Path:
    return LOG_DIR / f"{name}.log"


def pid_path(name: str) -> Path:
    return RUN_DIR / f"{name}.pid"


def ensure_node_modules(prefix: Path = PACKAGE_DIR) -> None:
    """Install the pinned npm packages (``npm ci``) if node_modules is missing."""
    if (prefix / "node_modules" / "kinesis-local").is_dir() and (prefix / "node_modules" / "kinesalite").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise StandInError("npm not found on PATH: install Node 20 + npm to run kinesis-local/kinesalite")
    cmd = [npm, "ci", "--prefix", str(prefix), "--no-audit", "--no-fund"]
    print(f"installing pinned node packages: {' '.join(cmd)}", flush=True)
    subprocess.run(cmd, check=True)


def _node_package_bin(package: str, bin_name: str) -> Path:
    """The JS file a package's "bin" entry points at (so we can run it with node flags)."""
    pkg_dir = NODE_MODULES / package
    meta = json.loads((pkg_dir / "package.json").read_text(encoding="utf-8"))
    bins = meta.get("bin")
    rel = bins if isinstance(bins, str) else bins[bin_name]
    return (pkg_dir / rel).resolve()


def _node_preload_args() -> list[str]:
    if os.environ.get(NO_LOOPBACK_ENV) == "1":
        return []
    return ["--import", "data:text/javascript," + urllib.parse.quote(_LOOPBACK_PRELOAD_JS)]


def listening_addresses(port: int) -> list[str]:
    """Local addresses with a TCP socket in LISTEN on ``port`` (Linux /proc; [] elsewhere)."""
    found: list[str] = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, state = parts[1], parts[3]
            addr_hex, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:
                continue
            if width == 8:
                addr = socket.inet_ntop(socket.AF_INET, bytes.fromhex(addr_hex)[::-1])
            else:
                # /proc prints the 16 bytes as four little-endian 32-bit words.
                raw = b"".join(bytes.fromhex(addr_hex[i : i + 8])[::-1] for i in range(0, 32, 8))
                addr = socket.inet_ntop(socket.AF_INET6, raw)
            found.append(addr)
    return found


def warn_if_wildcard(name: str, ports: Sequence[int]) -> list[str]:
    """Print a one-line warning per port a stand-in listens on for all interfaces."""
    warnings: list[str] = []
    for port in ports:
        wild = [a for a in listening_addresses(port) if a in ("0.0.0.0", "::")]
        if wild:
            shown = f"[{wild[0]}]" if ":" in wild[0] else wild[0]
            msg = (
                f"WARNING: {name} listens on {shown}:{port} (all interfaces), not {HOST}: it has no bind "
                f"option and the loopback preload is off or failed; keep the firewall closed on {port}"
            )
            print(msg, file=sys.stderr, flush=True)
            warnings.append(msg)
    return warnings


def _port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own exited child, not yet reaped) counts as dead.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def config_region() -> str:
    """The stream region from the application properties, else eu-west-1."""
    try:
        from flink_jobs.config import load_config

        return load_config().stream.region
    except Exception:  # noqa: BLE001 - a broken config must not stop the stand-ins; resources.create reports it
        return HEALTH_REGION


# --------------------------------------------------------------------------- health checks


def _kinesis_health(endpoint: str) -> Callable[[], None]:
    def check() -> None:
        from udfs.aws import aws_client

        aws_client("kinesis", endpoint, HEALTH_REGION, max_attempts=1, connect_timeout=1, read_timeout=3).list_streams(
            Limit=1
        )

    return check


def _moto_health() -> None:
    from udfs.aws import aws_client

    aws_client("s3", MOTO_ENDPOINT, HEALTH_REGION, max_attempts=1, connect_timeout=1, read_timeout=3).list_buckets()


def _feature_store_health() -> None:
    import urllib.request

    with urllib.request.urlopen(f"{FEATURE_STORE_ENDPOINT}/_health", timeout=3) as answer:
        if json.load(answer).get("status") != "ok":
            raise StandInError("feature-store /_health is not ok")


# --------------------------------------------------------------------------- stand-in specs


@dataclass(frozen=True)
class StandIn:
    """How to run one stand-in process."""

    name: str
    ports: tuple[int, ...]  # the first one is probed for liveness
    endpoint: str
    command: Callable[[], list[str]]
    health: Callable[[], None]
    cwd: Callable[[], Path] = lambda: REPO_ROOT
    env: dict[str, str] = field(default_factory=dict)
    needs_node: bool = False
    start_timeout_s: float = 30.0


def _kinesis_local_cmd() -> list[str]:
    return ["node", *_node_preload_args(), str(_node_package_bin("kinesis-local", "kinesis-local"))]


def _kinesis_local_cwd() -> Path:
    # kinesis-local reads its TLS key/cert (server.json) relative to its working directory.
    cert = NODE_MODULES / "kinesis-local" / "server.json"
    if not cert.is_file():
        raise StandInError(f"{cert} not found: run `npm ci --prefix {PACKAGE_DIR}`")
    return cert.parent


def _moto_cmd() -> list[str]:
    # The venv's moto_server sits next to the interpreter running us.
    exe = Path(sys.executable).parent / "moto_server"
    if not exe.exists():
        which = shutil.which("moto_server")
        if which is None:
            raise StandInError("moto_server not found: pip install 'moto[server]==5.2.5' in the venv")
        exe = Path(which)
    return [str(exe), "-H", HOST, "-p", str(MOTO_PORT)]


def _kinesalite_cmd() -> list[str]:
    return [
        "node",
        *_node_preload_args(),
        str(_node_package_bin("kinesalite", "kinesalite")),
        "--port",
        str(KINESALITE_PORT),
        "--createStreamMs",
        "0",
        "--deleteStreamMs",
        "0",
        "--updateStreamMs",
        "0",
        "--shardLimit",
        "200",
    ]


def _shim_cmd() -> list[str]:
    return [
        sys.executable,
        "-m",
        "local_kinesis.kinesalite_shim",
        "--listen",
        f"{HOST}:{SHIM_PORT}",
        "--upstream",
        KINESALITE_ENDPOINT,
    ]


def _feature_store_cmd() -> list[str]:
    # Group metadata comes from moto's DescribeFeatureGroup: start moto too.
    return [
        sys.executable,
        "-m",
        "local_kinesis.feature_store",
        "--port",
        str(FEATURE_STORE_PORT),
        "--data-dir",
        str(LOCAL_DIR / "feature_store"),
        "--control-plane",
        MOTO_ENDPOINT,
    ]


STANDINS: dict[str, StandIn] = {
    "kinesis-local": StandIn(
        name="kinesis-local",
        ports=(KINESIS_LOCAL_TLS_PORT, KINESIS_LOCAL_PLAIN_PORT),
        endpoint=KINESIS_LOCAL_ENDPOINT,
        command=_kinesis_local_cmd,
        health=_kinesis_health(KINESIS_LOCAL_ENDPOINT),
        cwd=_kinesis_local_cwd,
        env={
            "KINESIS_MOCK_TLS_PORT": str(KINESIS_LOCAL_TLS_PORT),
            "KINESIS_MOCK_PLAIN_PORT": str(KINESIS_LOCAL_PLAIN_PORT),
            # State transitions are instant for tests; the defaults are 500 ms each.
            "CREATE_STREAM_DURATION": "0ms",
            "DELETE_STREAM_DURATION": "0ms",
            "REGISTER_STREAM_CONSUMER_DURATION": "0ms",
            "DEREGISTER_STREAM_CONSUMER_DURATION": "0ms",
            "START_STREAM_ENCRYPTION_DURATION": "0ms",
            "STOP_STREAM_ENCRYPTION_DURATION": "0ms",
            "MERGE_SHARDS_DURATION": "0ms",
            "SPLIT_SHARD_DURATION": "0ms",
            "UPDATE_SHARD_COUNT_DURATION": "0ms",
            "UPDATE_STREAM_MODE_DURATION": "0ms",
            # Room for the production shape (100 shards) next to test streams.
            "SHARD_LIMIT": "500",
            "ON_DEMAND_STREAM_COUNT_LIMIT": "10",
            "AWS_ACCOUNT_ID": "000000000000",
            "SHOULD_PERSIST_DATA": "false",
            "LOG_LEVEL": "WARN",
        },
        needs_node=True,
    ),
    "moto": StandIn(
        name="moto",
        ports=(MOTO_PORT,),
        endpoint=MOTO_ENDPOINT,
        command=_moto_cmd,
        health=_moto_health,
    ),
    "kinesalite": StandIn(
        name="kinesalite",
        ports=(KINESALITE_PORT,),
        endpoint=KINESALITE_ENDPOINT,
        command=_kinesalite_cmd,
        health=_kinesis_health(KINESALITE_ENDPOINT),
        env={"AWS_ACCOUNT_ID": "000000000000"},  # its default renders as 000000000000 too; be explicit
        needs_node=True,
    ),
    "kinesalite-shim": StandIn(
        name="kinesalite-shim",
        ports=(SHIM_PORT,),
        endpoint=SHIM_ENDPOINT,
        command=_shim_cmd,
        health=_kinesis_health(SHIM_ENDPOINT),
    ),
    "feature-store": StandIn(
        name="feature-store",
        ports=(FEATURE_STORE_PORT,),
        endpoint=FEATURE_STORE_ENDPOINT,
        command=_feature_store_cmd,
        health=_feature_store_health,
    ),
}

DEFAULT_SET = ("kinesis-local", "moto", "feature-store")
KINESALITE_SET = ("kinesalite", "kinesalite-shim")


def selected(with_kinesalite: bool) -> tuple[str, ...]:
    return DEFAULT_SET + (KINESALITE_SET if with_kinesalite else ())


# --------------------------------------------------------------------------- lifecycle


@dataclass
class Status:
    name: str
    endpoint: str
    pid: int | None
    healthy: bool
    detail: str
    log: str

    def line(self) -> str:
        state = "up" if self.healthy else "DOWN"
        pid = f"pid {self.pid}" if self.pid else "no pid file"
        return f"{self.name:16} {state:5} {self.endpoint:26} {pid:14} {self.detail}  (log: {self.log})"


def _read_pid(name: str) -> int | None:
    """The pid from our pid file, if that process still runs the command we started.

    Guards against pid reuse: a stale pid file must never make us signal a stranger.
    """
    try:
        lines = pid_path(name).read_text().splitlines()
        pid = int(lines[0])
        started_cmd = lines[1].split() if len(lines) > 1 else []
    except (OSError, ValueError, IndexError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return pid if _pid_alive(pid) and not Path("/proc").is_dir() else None
    running = [c.decode(errors="replace") for c in cmdline if c]
    # Scripts run through an interpreter show it first (python .../moto_server): look anywhere.
    if started_cmd and running and Path(started_cmd[0]).name not in " ".join(running):
        return None
    return pid


def _healthy(spec: StandIn) -> tuple[bool, str]:
    try:
        spec.health()
        return True, "ok"
    except Exception as err:  # noqa: BLE001 - any failure (refused, timeout, bad answer) means "not healthy"
        return False, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"


def status(name: str) -> Status:
    spec = STANDINS[name]
    pid = _read_pid(name)
    if pid is not None and not _pid_alive(pid):
        pid = None
    ok, detail = _healthy(spec)
    return Status(name, spec.endpoint, pid, ok, detail, str(log_path(name)))


def start_one(name: str, timeout_s: float | None = None) -> Status:
    """Start a stand-in unless a healthy one already answers on its port (then reuse it)."""
    spec = STANDINS[name]
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = log_path(name)

    pid = _read_pid(name)
    if pid is not None and _pid_alive(pid):
        ok, detail = _healthy(spec)
        if ok:
            print(f"{name}: already running (pid {pid}), reusing", flush=True)
            return Status(name, spec.endpoint, pid, True, "reused", str(log))
        raise StandInError(
            f"{name}: our process {pid} runs but does not answer on {spec.endpoint} ({detail}); "
            f"see {log}, or `python -m local_kinesis.standins stop` and start again"
        )
    if _port_open(HOST, spec.ports[0]):
        ok, detail = _healthy(spec)
        if ok:
            print(f"{name}: a healthy {name} already answers on {spec.endpoint} (not ours), reusing", flush=True)
            return Status(name, spec.endpoint, None, True, "reused (foreign)", str(log))
        raise StandInError(
            f"{name}: port {spec.ports[0]} is taken by something that does not answer as {name} ({detail}); "
            "free the port or stop that process"
        )

    if spec.needs_node:
        ensure_node_modules()
        if shutil.which("node") is None:
            raise StandInError("node not found on PATH: install Node 20 to run kinesis-local/kinesalite")
    cmd = spec.command()
    cwd = spec.cwd()
    # Node stand-ins put the region into the ARNs they mint: match the configured one.
    env = {**os.environ, "AWS_REGION": config_region(), **spec.env}
    with log.open("ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(cmd)} (cwd {cwd})\n".encode())
        out.flush()
        # Own session = own process group, so stop() can kill the whole tree (npm/node children).
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    pid_path(name).write_text(f"{proc.pid}\n{' '.join(cmd)}\n")

    deadline = time.monotonic() + (timeout_s or spec.start_timeout_s)
    detail = "not probed"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pid_path(name).unlink(missing_ok=True)
            raise StandInError(f"{name} exited with code {proc.returncode} during start; see {log}:\n{_tail(log)}")
        if _port_open(HOST, spec.ports[0]):
            ok, detail = _healthy(spec)
            if ok:
                print(f"{name}: started (pid {proc.pid}) on {spec.endpoint}, log {log}", flush=True)
                warn_if_wildcard(name, spec.ports)
                return Status(name, spec.endpoint, proc.pid, True, "started", str(log))
        time.sleep(0.2)
    _kill_group(proc.pid)
    pid_path(name).unlink(missing_ok=True)
    raise StandInError(
        f"{name} did not answer on {spec.endpoint} within {timeout_s or spec.start_timeout_s:.0f} s "
        f"(last probe: {detail}); see {log}:\n{_tail(log)}"
    )


def _kill_group(pid: int, grace_s: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after ``grace_s``."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    if pgid != pid:
        # Not a group leader we created: only ever signal the process itself.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.1)
    if _pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it was our child


def stop_one(name: str) -> bool:
    """Stop a stand-in we started (by its pid file). Returns True if something was stopped."""
    pid = _read_pid(name)
    pid_file = pid_path(name)
    if pid is None:
        return False
    stopped = False
    if _pid_alive(pid):
        _kill_group(pid)
        stopped = True
        print(f"{name}: stopped (pid {pid})", flush=True)
    pid_file.unlink(missing_ok=True)
    return stopped


def start(names: Sequence[str] | None = None, *, with_kinesalite: bool = False) -> dict[str, Status]:
    """Start the given stand-ins (default: kinesis-local + moto, plus kinesalite + shim if asked)."""
    names = selected(with_kinesalite) if names is None else tuple(names)
    return {name: start_one(name) for name in names}


def stop(names: Sequence[str] | None = None) -> list[str]:
    """Stop stand-ins we started, in reverse start order. None: all of them; []: none."""
    names = tuple(STANDINS) if names is None else tuple(names)
    return [name for name in reversed(names) if stop_one(name)]


def statuses(names: Sequence[str] | None = None, *, with_kinesalite: bool = False) -> dict[str, Status]:
    names = selected(with_kinesalite) if names is None else tuple(names)
    return {name: status(name) for name in names}


@contextlib.contextmanager
def running_standins(
    names: Sequence[str] | None = None, *, with_kinesalite: bool = False, stop_on_exit: bool = True
) -> Iterator[dict[str, Status]]:
    """Start the stand-ins for a block; on exit stop only those this call started (not reused ones)."""
    started = start(names, with_kinesalite=with_kinesalite)
    try:
        yield started
    finally:
        if stop_on_exit:
            stop([n for n, s in started.items() if s.detail == "started"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_kinesis.standins", description="Local AWS stand-ins.")
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--with-kinesalite", action="store_true", help="also kinesalite (:4569) and its shim (:4570)")
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            start(with_kinesalite=args.with_kinesalite)
            return 0
        if args.command == "stop":
            if not stop():
                print("nothing to stop (no live pid files in .local/run)")
            return 0
        result: dict[str, Any] = statuses(with_kinesalite=args.with_kinesalite)
        for st in result.values():
            print(st.line())
        return 0 if all(st.healthy for st in result.values()) else 1
    except StandInError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
