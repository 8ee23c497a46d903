"""deploy.rescale's capacity figures: the parallelism for a target rate, the catch-up time of a
backlog and the monthly cost, from the measured events per CPU second (docs/capacity.md)."""

from __future__ import annotations

import math

import pytest

from deploy import rescale


def test_the_rate_sets_the_kpus_and_the_slots_per_kpu_only_multiply_the_parallelism():
    # 10,000 events per vCPU-second at 50% busy: 5,000 per KPU.
    assert rescale.suggest_parallelism(5_000, 10_000, 0.5) == 1
    assert rescale.suggest_parallelism(5_001, 10_000, 0.5) == 2
    assert rescale.suggest_parallelism(20_000, 10_000, 0.5) == 4
    assert rescale.suggest_parallelism(20_000, 10_000, 0.5, parallelism_per_kpu=2) == 8
    assert rescale.kpus_for(8, 2) == 4
    assert rescale.suggest_parallelism(1, 10_000, 0.5) == 1, "never below one"


def test_a_suggestion_beyond_the_jobs_max_parallelism_or_with_bad_inputs_is_refused():
    with pytest.raises(ValueError, match="max parallelism"):
        rescale.suggest_parallelism(1_000_000, 10_000, 0.5, max_parallelism=128)
    for bad in ((0, 10_000, 0.5), (5_000, 0, 0.5), (5_000, 10_000, 0), (5_000, 10_000, 1.5)):
        with pytest.raises(ValueError):
            rescale.suggest_parallelism(*bad)
    with pytest.raises(ValueError, match="per KPU"):
        rescale.suggest_parallelism(5_000, 10_000, 0.5, parallelism_per_kpu=9)


def test_a_backlog_clears_with_the_capacity_left_over_from_the_incoming_traffic():
    # 2 KPUs x 10,000/s = 20,000/s; 5,000/s keep arriving: 15,000/s drain 18M events in 1,200 s.
    assert rescale.catch_up_hours(18_000_000, 5_000, 2, 10_000) == pytest.approx(1200 / 3600)
    assert rescale.catch_up_hours(1, 20_000, 2, 10_000) == math.inf, "no spare capacity: never"


def test_the_monthly_cost_bills_the_orchestration_kpu_too():
    assert rescale.monthly_cost(4, 0.10) == pytest.approx(5 * 0.10 * 730)


def test_the_cli_suggests_without_touching_aws_and_prints_the_plan():
    lines: list[str] = []
    assert rescale.main(["--suggest-for-rate", "5000", "--events-per-cpu-s", "10000", "--utilisation", "0.5"],
                        out=lines.append) == 0
    assert "--parallelism 1 --parallelism-per-kpu 1" in lines[0]
    lines.clear()
    assert rescale.main(["--suggest-for-rate", "40000", "--events-per-cpu-s", "10000", "--utilisation", "0.5",
                         "--parallelism-per-kpu", "2"], out=lines.append) == 0
    assert "--parallelism 16 --parallelism-per-kpu 2 (8 KPUs" in lines[0]
    lines.clear()
    assert rescale.main(["--plan"], out=lines.append) == 0
    plan = dict(line.rsplit(": ", 1) for line in lines)
    assert plan["peak rate"] == "5,000 events/s"
    assert any(key.startswith("1-hour backlog at the peak rate") for key in plan)


def test_the_throughput_bench_checkpoints_as_the_deployed_application_does():
    import re
    from pathlib import Path

    from bench import job_throughput

    template = (Path(rescale.__file__).parent / "cloudformation" / "yield-app.yaml").read_text(encoding="utf-8")
    default_ms = int(re.search(r"CheckpointIntervalMs:\s+Type: Number\s+Default: (\d+)", template).group(1))
    assert f"{default_ms // 1000} s" == job_throughput.CHECKPOINT_INTERVAL


def test_the_capacity_figure_gives_rocksdb_a_kpu_sized_share_of_managed_memory_per_slot():
    from bench import job_throughput

    settings = job_throughput.rocksdb_settings(parallelism=2)
    assert settings["state.backend.type"] == "rocksdb"
    # A KPU (one slot) has 1 GB of native memory, shared with network buffers and the JVM's own needs.
    assert settings["taskmanager.memory.managed.size"] == f"{2 * job_throughput.KPU_MANAGED_MB_PER_SLOT}m"
    assert 0 < job_throughput.KPU_MANAGED_MB_PER_SLOT < 1024
