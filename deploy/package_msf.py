"""Build the MSF application zip: deploy/target/predictive-yield-msf.zip.

Layout (MSF unpacks the zip and runs the `python` file of the property group
`kinesis.analytics.flink.run.options`, with `jarfile` on the job's classpath and `pyFiles`
on the Python path of the job's client and of its Python workers):

    main.py                  the entry point: flink_jobs/main.py, copied to the root
    flink_jobs/*.py          the job
    udfs/*.py                the Python functions and business rules the job calls
    schemas/...              the definitions it reads at runtime (SQL DDL, event schema, features)
    lib/yield-connectors-1.0.0.jar
    dep/...                  the pip packages of deploy/requirements-msf.txt (boto3, xgboost, ...)

MSF runs `python main.py` from the root, so the root is on the path and flink_jobs/, udfs/
and schemas/ import as packages, as they do from the repository (installed in the venv).

dep/ is installed by pip for MSF's platform, not this machine's (CPython 3.12, manylinux2014
x86_64, wheels only), from a wheel folder kept between builds: the first build downloads, later
ones install offline. The installed folder is kept too, keyed by the requirements file and the
platform, so an unchanged one is not installed again. Both live in the machine's build cache
(`$YIELD_BUILD_CACHE`, default ~/.cache/predictive-yield), beside pip's and Maven's, so a fresh
clone on the same machine (CI) reuses them.

    python -m deploy.package_msf [--jar PATH] [--dependencies DIR] [--out PATH]
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "deploy" / "target" / "predictive-yield-msf.zip"
LOCAL_PROPERTIES = ROOT / "flink_jobs" / "application_properties.json"
DEP_REQUIREMENTS = ROOT / "deploy" / "requirements-msf.txt"
RUN_OPTIONS = "kinesis.analytics.flink.run.options"

# What MSF's Flink 2.2 workers run: CPython 3.12 on x86_64 Linux. manylinux2014 (glibc 2.17) is
# the platform of the aws-samples PackagedPythonDependencies example: a wheel built for it loads
# on any newer glibc, whichever Linux the runtime image is.
MSF_PLATFORM = ("--platform", "manylinux2014_x86_64", "--python-version", "3.12",
                "--implementation", "cp", "--abi", "cp312", "--only-binary=:all:")
# apache-flink brings these to the runtime. dep/ sits ahead of site-packages on the path, so a
# copy there would shadow the versions PyFlink's own compiled code was built against.
RUNTIME_PACKAGES = frozenset({"numpy", "pandas", "pyarrow"})
# Console scripts pip writes for some packages (jmespath's jp.py): never imported, and their
# first line names this machine's interpreter, which would make the zip differ between machines.
DEP_EXCLUDED_FOLDERS = ("bin",)
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)$")

# Folders shipped as they are, and the file kinds taken from each.
PACKAGES: dict[str, tuple[str, ...]] = {
    "flink_jobs": (".py",),
    "udfs": (".py",),
    "schemas": (".py", ".json", ".sql"),
}
# The entry point MSF runs, at the zip root (the aws-samples layout), and where it comes from.
ENTRY_POINT = ("flink_jobs/main.py", "main.py")
# The local property file holds loopback endpoints and test keys: on MSF the job must read
# /etc/flink/application_properties.json, and if that were ever missing it should fail at start
# rather than fall back to a file that points at 127.0.0.1.
EXCLUDED = {"flink_jobs/application_properties.json"}

# A fixed timestamp keeps the zip byte-identical for identical sources (same S3 object version
# story, easy to diff two builds).
_EPOCH = (2020, 1, 1, 0, 0, 0)


def run_options(path: Path = LOCAL_PROPERTIES) -> dict[str, str]:
    """`python`, `jarfile` and `pyFiles` as the job's own property file names them (one source of truth)."""
    groups = json.loads(path.read_text(encoding="utf-8"))
    for group in groups:
        if group["PropertyGroupId"] == RUN_OPTIONS:
            return dict(group["PropertyMap"])
    raise SystemExit(f"{path}: no {RUN_OPTIONS} property group")


def source_files(root: Path = ROOT) -> list[tuple[Path, str]]:
    """(file on disk, name in the zip) for every shipped source file, sorted by name."""
    files: list[tuple[Path, str]] = []
    for package, suffixes in PACKAGES.items():
        for path in sorted((root / package).rglob("*")):
            name = path.relative_to(root).as_posix()
            if not path.is_file() or path.suffix not in suffixes or "__pycache__" in path.parts:
                continue
            if name not in EXCLUDED:
                files.append((path, name))
            if name == ENTRY_POINT[0]:
                files.append((path, ENTRY_POINT[1]))
    return sorted(files, key=lambda file: file[1])


# --------------------------------------------------------------------------- dep/


def normalized(name: str) -> str:
    """A distribution's name as pip compares them (PEP 503): xgboost_cpu == xgboost-cpu."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_dependencies(path: Path = DEP_REQUIREMENTS) -> dict[str, str]:
    """{distribution: version} from the requirements file; every line must be `name==version`."""
    pins: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = _PIN.match(text)
        if not match:
            raise SystemExit(f"{path}:{number}: {text!r} is not pinned as name==version")
        name = normalized(match.group(1))
        if name in RUNTIME_PACKAGES:
            raise SystemExit(f"{path}:{number}: {name} comes with apache-flink on MSF and must not be in dep/")
        pins[name] = match.group(2)
    return pins


def build_cache(root: Path | None = None) -> Path:
    """The machine's build cache for dep/ (wheels, installed trees): $YIELD_BUILD_CACHE or ~/.cache."""
    if root is not None:
        return root
    if os.environ.get("YIELD_BUILD_CACHE"):
        return Path(os.environ["YIELD_BUILD_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "predictive-yield"


@contextmanager
def cache_lock(path: Path) -> Iterator[None]:
    """One builder at a time per cache entry (two `make package` runs, or a test beside one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pip_download_command(requirements: Path, wheels: Path) -> list[str]:
    """Fetch the pinned wheels for MSF's platform into the wheel folder (the only step that needs PyPI)."""
    return [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *MSF_PLATFORM,
            "--dest", str(wheels), "--requirement", str(requirements)]


def pip_install_command(requirements: Path, wheels: Path, target: Path) -> list[str]:
    """Install the pinned wheels from the wheel folder alone, for MSF's platform, into `target`.

    --no-deps: the requirements file is the whole list (what apache-flink brings stays out);
    --no-compile: .pyc files would be for this machine's Python, and carry build times.
    """
    return [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "--no-index",
            "--find-links", str(wheels), *MSF_PLATFORM, "--target", str(target),
            "--requirement", str(requirements)]


def installed_distributions(dep: Path) -> dict[str, str]:
    """{distribution: version} of what a dep/ folder holds, from its .dist-info folder names."""
    found = {}
    for info in dep.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
        found[normalized(name)] = version
    return found


def _check_installed(dep: Path, pins: dict[str, str]) -> None:
    found = installed_distributions(dep)
    if found != pins:
        raise SystemExit(f"{dep}: pip installed {found}, the requirements pin {pins}")
    shadowing = RUNTIME_PACKAGES & {normalized(p.name) for p in dep.iterdir()}
    if shadowing:
        raise SystemExit(f"{dep}: holds {sorted(shadowing)}, which apache-flink brings on MSF")


def python_dependencies(requirements: Path = DEP_REQUIREMENTS, cache: Path | None = None) -> Path:
    """The dep/ folder for these requirements, installed for MSF's platform (cached; see the module doc)."""
    pins = pinned_dependencies(requirements)
    cache = build_cache(cache)
    key = hashlib.sha256(requirements.read_bytes() + " ".join(MSF_PLATFORM).encode()).hexdigest()[:16]
    tree = cache / "msf-dep" / key
    wheels = cache / "msf-wheels"
    with cache_lock(cache / "msf-dep.lock"):
        if (tree / ".complete").is_file():
            return tree / "dep"
        staging = tree.with_name(f"{key}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        wheels.mkdir(parents=True, exist_ok=True)
        install = pip_install_command(requirements, wheels, staging / "dep")
        if subprocess.run(install, capture_output=True, text=True).returncode != 0:
            # Some pinned wheel is not in the folder yet: fetch what is missing, then install offline.
            print(f"downloading the MSF wheels of {requirements.name} into {wheels}", flush=True)
            subprocess.run(pip_download_command(requirements, wheels), check=True)
            shutil.rmtree(staging, ignore_errors=True)
            subprocess.run(install, check=True)
        for folder in DEP_EXCLUDED_FOLDERS:
            shutil.rmtree(staging / "dep" / folder, ignore_errors=True)
        _check_installed(staging / "dep", pins)
        (staging / ".complete").write_text(requirements.read_text(encoding="utf-8"), encoding="utf-8")
        shutil.rmtree(tree, ignore_errors=True)
        staging.rename(tree)
        # Trees of older requirements are of no further use: keep the cache to one.
        for old in (cache / "msf-dep").iterdir():
            if old != tree and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
    return tree / "dep"


def dependency_files(dep: Path, folder: str) -> list[tuple[Path, str]]:
    """(file on disk, name in the zip) for every file of a dep/ folder, under `folder` in the zip."""
    files = []
    for path in dep.rglob("*"):
        relative = path.relative_to(dep)
        if not path.is_file() or "__pycache__" in relative.parts or path.suffix == ".pyc":
            continue
        if relative.parts[0] in DEP_EXCLUDED_FOLDERS:
            continue
        files.append((path, f"{folder}/{relative.as_posix()}"))
    return sorted(files, key=lambda file: file[1])


# --------------------------------------------------------------------------- the zip


def _add(archive: zipfile.ZipFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = mode << 16
    archive.writestr(info, data)


def build(out: Path = DEFAULT_OUT, jar: Path | None = None, root: Path = ROOT,
          dependencies: Path | None = None) -> Path:
    """Write the zip; `dependencies` is a ready dep/ folder (default: built from deploy/requirements-msf.txt)."""
    options = run_options(root / "flink_jobs" / "application_properties.json")
    jar_name = options["jarfile"]  # e.g. lib/yield-connectors-1.0.0.jar
    jar = jar or root / "connector" / "target" / Path(jar_name).name
    if not jar.is_file():
        raise SystemExit(f"connector jar {jar} not found: build it with `make jar`")
    if "pyFiles" not in options:
        raise SystemExit(f"{RUN_OPTIONS} names no pyFiles: the workers would have no boto3 nor xgboost")
    dep_folder = options["pyFiles"].strip("/")  # dep/
    files = source_files(root)
    names = {name for _, name in files}
    if options["python"] not in names:
        raise SystemExit(f"entry point {options['python']} is not among the packaged files")
    dependencies = dependencies or python_dependencies(root / "deploy" / "requirements-msf.txt")
    dep_files = dependency_files(dependencies, dep_folder)
    if not dep_files:
        raise SystemExit(f"{dependencies} is empty")

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        for path, name in files:
            _add(archive, name, path.read_bytes())
        # Shared libraries keep their executable bit as the wheel had it (a fixed mode otherwise).
        for path, name in dep_files:
            _add(archive, name, path.read_bytes(), 0o755 if os.access(path, os.X_OK) else 0o644)
        # Already compressed: storing it saves build time and costs ~nothing in size.
        info = zipfile.ZipInfo(jar_name, date_time=_EPOCH)
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        with archive.open(info, "w") as dst, jar.open("rb") as src:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    tmp.replace(out)  # never leave a half-written zip where `aws s3 cp` would pick it up
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jar", type=Path, default=None, help="connector jar (default: connector/target/<jarfile>)")
    parser.add_argument("--dependencies", type=Path, default=None,
                        help="a ready dep/ folder (default: pip-installed from deploy/requirements-msf.txt)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"zip to write (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    dependencies = args.dependencies or python_dependencies()
    out = build(args.out, args.jar, dependencies=dependencies)
    with zipfile.ZipFile(out) as archive:
        count = len(archive.namelist())
    packed = ", ".join(f"{name}=={version}" for name, version in sorted(installed_distributions(dependencies).items()))
    print(f"{out} ({out.stat().st_size / 1e6:.1f} MB, {count} files)\ndep/: {packed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
