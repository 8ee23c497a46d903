"""The environment of a fresh PyFlink client process started by a test."""

from __future__ import annotations

import os


def fresh_client_env() -> dict[str, str]:
    """This process's environment without what its own PyFlink session left behind.

    Dropped: PYTHONPATH (the test proves the workers need no path to the repository), every
    PYFLINK_*/FLINK_* variable (e.g. PYFLINK_GATEWAY_DISABLED) and an empty JAVA_HOME, which
    PyFlink would turn into the relative command `bin/java`: the child finds java on the PATH.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith(("PYFLINK", "FLINK_"))}
    if not env.get("JAVA_HOME", "").strip():
        env.pop("JAVA_HOME", None)
    return env
