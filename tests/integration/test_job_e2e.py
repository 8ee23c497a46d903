"""End to end: the real job (PyFlink + connector jar) over kinesis-local and moto.

Every malformed kind lands in raw_errors/ with its own reason, the job keeps
running, and features and floors equal the pandas oracle (tests/e2e_scenario.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flink_jobs.config import AppConfig
from tests.support.e2e_scenario import assert_outputs_match_oracle, run_scenario

pytestmark = pytest.mark.e2e


def test_known_events_give_exact_features_and_floors(job_config: AppConfig, tmp_path: Path):
    scenario = run_scenario(job_config, tmp_path / "job")
    assert_outputs_match_oracle(job_config, scenario)
