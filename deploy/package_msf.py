"""Build the MSF application zip: deploy/target/predictive-yield-msf.zip.

Layout (MSF unpacks the zip and runs the `python` file of the property group
`kinesis.analytics.flink.run.options`, with `jarfile` on the job's classpath):

    main.py                  the entry point: flink_jobs/main.py, copied to the root
    flink_jobs/*.py          the job
    udfs/*.py                the Python functions and business rules the job calls
    schemas/...              the definitions it reads at runtime (SQL DDL, event schema, features)
    lib/yield-connectors-1.0.0.jar

MSF runs `python main.py` from the root, so the root is on the path and flink_jobs/, udfs/
and schemas/ import as packages, as they do from the repository (installed in the venv).

    python deploy/package_msf.py [--jar PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "deploy" / "target" / "predictive-yield-msf.zip"
LOCAL_PROPERTIES = ROOT / "flink_jobs" / "application_properties.json"
RUN_OPTIONS = "kinesis.analytics.flink.run.options"

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
    """`python` and `jarfile` as the job's own property file names them (one source of truth)."""
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


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def build(out: Path = DEFAULT_OUT, jar: Path | None = None, root: Path = ROOT) -> Path:
    options = run_options(root / "flink_jobs" / "application_properties.json")
    jar_name = options["jarfile"]  # e.g. lib/yield-connectors-1.0.0.jar
    jar = jar or root / "connector" / "target" / Path(jar_name).name
    if not jar.is_file():
        raise SystemExit(f"connector jar {jar} not found: build it with `make jar`")
    files = source_files(root)
    names = {name for _, name in files}
    if options["python"] not in names:
        raise SystemExit(f"entry point {options['python']} is not among the packaged files")

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        for path, name in files:
            _add(archive, name, path.read_bytes())
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
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"zip to write (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    out = build(args.out, args.jar)
    with zipfile.ZipFile(out) as archive:
        count = len(archive.namelist())
    print(f"{out} ({out.stat().st_size / 1e6:.1f} MB, {count} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
