"""The MSF zip in a clean room: what MSF's Python 3.12 workers would find, without AWS.

The zip (`deploy/package_msf.py`, real dep/ from deploy/requirements-msf.txt) is unpacked into an
empty folder and run by a Python 3.12 venv that holds only `apache-flink` at the pinned version,
with the zip root and dep/ on the path as MSF puts them (the root is `main.py`'s folder, dep/ is
`pyFiles`). In that interpreter the job's modules import, and each Python function of the job
opens and answers once, as a worker would run it after unpickling:

- score_floor loads a booster trained by this repository's xgboost from a file:// lake, and
  predicts what this venv predicts;
- the online feature writer puts a record into the Feature Store stand-in;
- drift_verdict reads the model's baseline and publishes its metrics to moto's CloudWatch.

The wheels in dep/ are checked for MSF's platform (cp312 or py3, manylinux2014 x86_64), and
dep/ must not carry numpy, pandas, pyarrow or anything else apache-flink installs.

The clean-room venv is built once per machine and pins (~1 min, apache-flink and its ~800 MB of
dependencies) in the build cache beside dep/ (`$YIELD_BUILD_CACHE`, default ~/.cache/predictive-yield);
later runs take a few seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from deploy import package_msf
from local_kinesis import resources, standins
from tests.support.model_helpers import write_challenger
from tests.support.pyflink_client import fresh_client_env
from udfs import model_store
from udfs.aws import aws_client
from udfs.feature_store import read_online_records, segment_id
from udfs.model_features import WINDOW_COLUMNS, model_inputs

ROOT = Path(__file__).resolve().parents[2]
MSF_PYTHON = (3, 12)
REGION = "eu-west-1"
MODEL_VERSION = "20260105T200000Z"
# The packages MSF's runtime has because apache-flink needs them: dep/ must leave them to it.
RUNTIME_PACKAGES = {"numpy", "pandas", "pyarrow"}
# Platform tags a manylinux2014 (glibc 2.17) x86_64 machine accepts.
_OLD_MANYLINUX = {"manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64"}
_GLIBC_TAG = re.compile(r"^manylinux_2_(\d+)_x86_64$")


# --------------------------------------------------------------------------- the clean room


def pinned(requirement: str, path: Path = ROOT / "requirements.txt") -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        name, _, version = line.split("#", 1)[0].strip().partition("==")
        if package_msf.normalized(name) == requirement:
            return version
    raise AssertionError(f"{path} does not pin {requirement}")


def msf_python() -> Path:
    """A CPython 3.12 interpreter (pyenv's, else python3.12 on PATH); fails, never skips, without one."""
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found = sorted(
        (tuple(int(part) for part in path.name.split(".")), path / "bin" / "python")
        for path in pyenv.glob("3.12.*") if re.fullmatch(r"3\.12\.\d+", path.name)
    )
    if found and found[-1][1].exists():
        return found[-1][1]
    on_path = shutil.which("python3.12")
    if on_path:
        return Path(on_path)
    pytest.fail("Python 3.12, MSF's Flink 2.2 runtime, is needed for the MSF zip's clean-room test and was not "
                f"found (looked in {pyenv} and for python3.12 on PATH): `pyenv install 3.12` and run again")


def clean_room_python() -> Path:
    """A Python 3.12 venv with only apache-flink (the pinned version), built once per interpreter and pin."""
    base = msf_python()
    flink = pinned("apache-flink")
    version = subprocess.run([str(base), "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    key = hashlib.sha256(f"{base}|{version}|apache-flink=={flink}".encode()).hexdigest()[:12]
    rooms = package_msf.build_cache() / "msf-cleanroom"
    venv = rooms / f"py{version}-flink{flink}-{key}"
    python = venv / "bin" / "python"
    with package_msf.cache_lock(rooms.parent / "msf-cleanroom.lock"):
        if not (venv / ".complete").is_file():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([str(base), "-m", "venv", str(venv)], check=True, timeout=300)
            install = subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                 f"apache-flink=={flink}"], capture_output=True, text=True, timeout=1200)
            assert install.returncode == 0, f"pip install apache-flink=={flink} failed:\n{install.stderr[-3000:]}"
            (venv / ".complete").write_text(f"apache-flink=={flink}\n", encoding="utf-8")
            for old in rooms.iterdir():  # rooms of older pins are of no further use
                if old != venv and old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
    return python


@pytest.fixture(scope="module")
def clean_room() -> Path:
    return clean_room_python()


@pytest.fixture(scope="module")
def unpacked_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zip `make package` builds (a stand-in jar: Python needs none of it), unpacked into an empty folder."""
    work = tmp_path_factory.mktemp("msf_zip")
    jar = work / "yield-connectors-1.0.0.jar"
    with zipfile.ZipFile(jar, "w") as fake:
        fake.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
    built = package_msf.build(work / "predictive-yield-msf.zip", jar=jar)
    app = work / "app"
    app.mkdir()
    with zipfile.ZipFile(built) as archive:
        archive.extractall(app)
    return app


def as_on_msf(app: Path, with_dep: bool = True) -> dict[str, str]:
    """The environment of MSF's Python: the zip root (main.py's folder) and dep/ (pyFiles) on the path,
    nothing of this repository or its venv."""
    env = {k: v for k, v in fresh_client_env().items() if k not in ("PYTHONHOME", "VIRTUAL_ENV", "YIELD_PROPERTIES")}
    env["PYTHONPATH"] = os.pathsep.join([str(app), str(dep_folder(app))] if with_dep else [str(app)])
    env["PYTHONNOUSERSITE"] = "1"
    return env


def dep_folder(app: Path) -> Path:
    return app / package_msf.run_options()["pyFiles"].strip("/")


def run_in_clean_room(python: Path, app: Path, script: str, *args: str, with_dep: bool = True,
                      timeout: float = 180) -> dict:
    """Run a probe script from the unpacked zip's root; its last stdout line is JSON."""
    probe = app.parent / f"probe_{uuid.uuid4().hex[:8]}.py"  # beside the app, not in it
    probe.write_text(script, encoding="utf-8")
    result = subprocess.run([str(python), str(probe), *args], cwd=app, env=as_on_msf(app, with_dep),
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"clean-room probe failed:\n{result.stderr[-4000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- dep/ itself


def msf_compatible(tag: str) -> bool:
    """Whether a wheel tag (interpreter-abi-platform, each possibly a dotted set) installs on CPython
    3.12 on manylinux2014 x86_64."""
    interpreters, abis, platforms = (set(part.split(".")) for part in tag.split("-"))
    glibc_ok = any(
        p == "any" or p in _OLD_MANYLINUX or ((m := _GLIBC_TAG.match(p)) is not None and int(m.group(1)) <= 17)
        for p in platforms)
    return bool(interpreters & {"cp312", "py3", "py312"}) and bool(abis & {"none", "abi3", "cp312"}) and glibc_ok


def test_msf_compatible_tags() -> None:
    assert msf_compatible("py3-none-any") and msf_compatible("py2.py3-none-any")
    assert msf_compatible("cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64")
    assert not msf_compatible("py3-none-manylinux_2_28_x86_64")  # xgboost >= 3.1
    assert not msf_compatible("cp311-cp311-manylinux2014_x86_64")
    assert not msf_compatible("cp312-cp312-manylinux2014_aarch64")


def test_every_wheel_in_dep_is_for_msf_and_none_is_a_runtime_package(unpacked_zip: Path) -> None:
    dep = unpacked_zip / "dep"
    assert package_msf.installed_distributions(dep) == package_msf.pinned_dependencies()
    for wheel in sorted(dep.glob("*.dist-info")):
        tags = [line.split(":", 1)[1].strip() for line in (wheel / "WHEEL").read_text(encoding="utf-8").splitlines()
                if line.startswith("Tag:")]
        assert tags and any(msf_compatible(tag) for tag in tags), f"{wheel.name}: tags {tags} are not for MSF"
    top_level = {package_msf.normalized(path.name.split("-")[0]) for path in dep.iterdir()}
    assert not (top_level & RUNTIME_PACKAGES), f"dep/ holds {top_level & RUNTIME_PACKAGES}"


# --------------------------------------------------------------------------- in the clean room

IMPORTS = r"""
import importlib, importlib.metadata as md, json, site, subprocess, sys
import flink_jobs.main, flink_jobs.pipeline, udfs.scoring, udfs.feature_store, udfs.drift_monitor, udfs.model_store
import boto3, botocore, xgboost, scipy.sparse, numpy, pandas, pyarrow, pyflink
where = {name: importlib.import_module(name).__file__ for name in (
    "flink_jobs.main", "udfs.scoring", "boto3", "botocore", "s3transfer", "jmespath", "xgboost", "scipy",
    "numpy", "pandas", "pyarrow", "pyflink")}
# What the venv itself holds (apache-flink and its dependencies): dep/ must not shadow any of it.
venv = sorted({d.metadata["Name"] for d in md.distributions(path=site.getsitepackages())})
check = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
print(json.dumps({"python": list(sys.version_info[:2]), "where": where, "venv": venv,
                  "versions": {"xgboost": xgboost.__version__, "boto3": boto3.__version__,
                               "numpy": numpy.__version__, "pandas": pandas.__version__},
                  "pip_check": [check.returncode, check.stdout + check.stderr]}))
"""


def test_the_job_imports_from_the_zip_with_dep_and_apache_flink_alone(clean_room: Path, unpacked_zip: Path) -> None:
    out = run_in_clean_room(clean_room, unpacked_zip, IMPORTS)
    assert tuple(out["python"]) == MSF_PYTHON
    app, dep = unpacked_zip.resolve(), (unpacked_zip / "dep").resolve()

    def home(module: str) -> Path:
        return Path(out["where"][module]).resolve()

    for module in ("flink_jobs.main", "udfs.scoring"):
        assert home(module).is_relative_to(app) and not home(module).is_relative_to(dep), module
    for module in ("boto3", "botocore", "s3transfer", "jmespath", "xgboost", "scipy"):
        assert home(module).is_relative_to(dep), f"{module} came from {home(module)}, not dep/"
    for module in ("numpy", "pandas", "pyarrow", "pyflink"):
        assert not home(module).is_relative_to(app), f"{module} came from the zip: {home(module)}"
    assert out["versions"]["xgboost"] == package_msf.pinned_dependencies()["xgboost-cpu"]
    # Every requirement of dep/'s packages is met by dep/ plus what apache-flink brought...
    assert out["pip_check"][0] == 0, out["pip_check"][1]
    # ...and nothing in dep/ is a second copy of something apache-flink brought.
    shadowed = {package_msf.normalized(n) for n in out["venv"]} & set(package_msf.pinned_dependencies())
    assert not shadowed, f"dep/ shadows the runtime's {shadowed}"


FUNCTIONS = r"""
import json, sys
from datetime import datetime
import cloudpickle, pandas as pd
from pyflink.fn_execution.metrics.process.metric_impl import GenericMetricGroup
from pyflink.table.udf import FunctionContext
from udfs import drift, drift_monitor, feature_store, scoring

args = json.loads(sys.argv[1])


def on_a_worker(wrapper):
    # What PyFlink ships to a Python worker: the function object, pickled (udfs/ by value).
    return cloudpickle.loads(cloudpickle.dumps(wrapper._func))


def context():
    return FunctionContext(GenericMetricGroup(None, None), {})  # what a worker passes to open()


out = {}
score = on_a_worker(scoring.score_floor_function(args["lake"], 60_000))
score.open(context())
rows = pd.DataFrame(args["window"])
rows["window_start"], rows["window_end"] = pd.to_datetime(rows["window_start"]), pd.to_datetime(rows["window_end"])
scored = score.eval(*(rows[c] for c in scoring.WINDOW_COLUMNS))
out["scored"] = scored.to_dict("records")

spec = feature_store.load_spec(args["group"])
settings = feature_store.WriterSettings(args["region"], args["feature_store"], "test", "test", 2, 30.0)
writer = on_a_worker(feature_store.writer_function(spec, settings))
writer.open(context())
values = {spec.record_identifier: args["segment_id"], spec.event_time: args["event_time"], "auctions": 1500}
out["attempts"] = writer.eval(*(pd.Series([values.get(name)]) for name in spec.feature_names)).tolist()
writer.close()

grid = drift.load_grid(["cpm_eur"])
cloudwatch = {"namespace": args["namespace"], "region": args["region"], "endpoint": args["cloudwatch"],
              "credentials": {}, "max_attempts": 2}
verdict = on_a_worker(drift_monitor.drift_verdict_function(args["lake"], grid, cloudwatch))
verdict.open(context())
cells = drift.cell_counts([0.4, 0.9, 3.0, 7.5], grid["cpm_eur"]).tolist()
out["drift"] = [list(r) for r in verdict.eval(datetime(2026, 1, 5, 20), datetime(2026, 1, 5, 21), cells)]
print(json.dumps(out, default=str))
"""


def one_window() -> pd.DataFrame:
    return pd.DataFrame([["coarse", "video|premium|mobile|1", pd.Timestamp("2026-01-05 20:00"),
                          pd.Timestamp("2026-01-05 21:00"), 1500, 700, *[2.5] * 8]], columns=list(WINDOW_COLUMNS))


def test_each_python_function_opens_and_answers_in_the_clean_room(
        clean_room: Path, unpacked_zip: Path, tmp_path: Path, running_standins: None) -> None:
    import xgboost

    shipped = package_msf.pinned_dependencies()["xgboost-cpu"]
    assert xgboost.__version__ == shipped, (
        f"this venv has xgboost {xgboost.__version__}, the zip ships {shipped}: `make venv` installs the pin")
    # A model version trained here (this venv's xgboost), in a file:// lake.
    lake = (tmp_path / "lake").as_uri()
    write_challenger(lake, MODEL_VERSION, scale=1.0)
    model_store.promote(lake, MODEL_VERSION)
    window = one_window()
    expected = float(model_store.load_model(model_store.current_model(lake)).predict(model_inputs(window))[0])
    # A feature group in the stand-ins, and a CloudWatch namespace of this test's own.
    suffix = uuid.uuid4().hex[:8]
    group, namespace = f"features-{suffix}", f"SSMAS/YieldPredictor/Drift-msfzip-{suffix}"
    resources.create_feature_group(aws_client("sagemaker", standins.MOTO_ENDPOINT, REGION),
                                   resources.feature_group_params(group, "lake"))
    record = segment_id("coarse", "video|premium|mobile|1")
    args = {
        "lake": lake, "window": json.loads(window.to_json(orient="records", date_format="iso")),
        "group": group, "region": REGION, "feature_store": standins.FEATURE_STORE_ENDPOINT,
        "segment_id": record, "event_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "cloudwatch": standins.MOTO_ENDPOINT, "namespace": namespace,
    }

    out = run_in_clean_room(clean_room, unpacked_zip, FUNCTIONS, json.dumps(args))

    # score_floor: the zip's xgboost loaded the booster and predicts what this venv predicts.
    [scored] = out["scored"]
    assert scored["model_version"] == MODEL_VERSION
    assert scored["predicted_cpm_eur"] == pytest.approx(expected, rel=1e-6)
    assert scored["floor_eur"] > 0
    # The online feature writer: one PutRecord, and the record is in the Feature Store stand-in.
    assert out["attempts"] == [1]
    stored = read_online_records(group, standins.FEATURE_STORE_ENDPOINT, REGION, [record])
    assert stored[record]["auctions"] == "1500"
    # drift_verdict: the model's baseline, one record for cpm_eur, metrics in moto's CloudWatch.
    [(feature, status, *_, baseline_version, global_score, _level, _threshold)] = out["drift"]
    assert (feature, status, baseline_version) == ("cpm_eur", "MEASURED", MODEL_VERSION)
    assert global_score is not None
    metrics = aws_client("cloudwatch", standins.MOTO_ENDPOINT, REGION).list_metrics(Namespace=namespace)["Metrics"]
    assert {m["MetricName"] for m in metrics} == {"GlobalDriftScore", "FeatureDriftScore"}


WORKER = r"""
import json, sys
import pandas as pd
from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment
from udfs import scoring

args = json.loads(sys.argv[1])
try:
    import xgboost  # noqa: F401
    raise SystemExit("the client already imports xgboost: the worker would not need pyFiles")
except ImportError:
    pass
t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
conf = t_env.get_config()
conf.set("python.executable", sys.executable)
conf.set("python.client.executable", sys.executable)
conf.set("python.files", args["dep"])  # what MSF's pyFiles = dep/ becomes
conf.set("parallelism.default", "1")
scoring.register(t_env, args["lake"], 60_000)
row = pd.DataFrame(args["window"])
row["window_start"], row["window_end"] = pd.to_datetime(row["window_start"]), pd.to_datetime(row["window_end"])
types = [DataTypes.STRING(), DataTypes.STRING(), DataTypes.TIMESTAMP(3), DataTypes.TIMESTAMP(3),
         DataTypes.BIGINT(), DataTypes.BIGINT(), *[DataTypes.DOUBLE()] * 8]
t_env.create_temporary_view("windows", t_env.from_pandas(row, DataTypes.ROW(
    [DataTypes.FIELD(c, t) for c, t in zip(scoring.WINDOW_COLUMNS, types)])))
query = f"SELECT s.predicted_cpm_eur, s.model_version FROM (SELECT {scoring.call_sql()} AS s FROM windows)"
with t_env.execute_sql(query).collect() as rows:
    print(json.dumps([[r[0], r[1]] for r in rows]))
"""


def test_a_flink_worker_gets_xgboost_from_pyfiles(clean_room: Path, unpacked_zip: Path, tmp_path: Path) -> None:
    """The Python worker of a real (local) Flink job in the clean room scores with dep/'s xgboost,
    which reaches it only through `python.files`, as `pyFiles = dep/` ships it on MSF."""
    lake = (tmp_path / "lake").as_uri()
    write_challenger(lake, MODEL_VERSION, scale=1.0)
    model_store.promote(lake, MODEL_VERSION)
    window = one_window()
    expected = float(model_store.load_model(model_store.current_model(lake)).predict(model_inputs(window))[0])
    args = {"lake": lake, "dep": str(dep_folder(unpacked_zip)),
            "window": json.loads(window.to_json(orient="records", date_format="iso"))}

    [(predicted, version)] = run_in_clean_room(clean_room, unpacked_zip, WORKER, json.dumps(args),
                                               with_dep=False, timeout=300)
    assert version == MODEL_VERSION
    assert predicted == pytest.approx(expected, rel=1e-6)

