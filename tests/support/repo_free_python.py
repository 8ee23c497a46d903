"""A Python interpreter with this venv's packages but without the repository on its path.

The repository is installed in the venv in editable mode, so the venv's own interpreter can import
`udfs` or `flink_jobs` from anywhere. Tests that prove something runs without the repository (the
unpacked MSF zip, Python workers that only get what was shipped by value) need an interpreter that
cannot: a bare venv whose one .pth names the outer site-packages folder. A path line in a .pth is
added as it is; the .pth files inside it (the editable install's finder among them) are not run.
"""

from __future__ import annotations

import subprocess
import sysconfig
import venv
from pathlib import Path


def repo_free_python(folder: Path) -> Path:
    """Create (once) a venv in `folder` that sees the outer venv's packages but not the repository."""
    python = folder / "bin" / "python"
    if not python.exists():
        venv.EnvBuilder(with_pip=False, symlinks=True).create(folder)
        inner = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip()
        Path(inner, "outer-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    probe = subprocess.run([str(python), "-c", "import udfs"], cwd=folder, capture_output=True, text=True)
    if probe.returncode == 0:
        raise RuntimeError(f"{python} still imports the repository: its path leaks it")
    return python
