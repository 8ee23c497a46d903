"""The champion/challenger split: Python and JavaScript give every id the same bucket and arm;
the split follows the weights; the sample-ratio-mismatch check agrees with scipy's chi-square."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from scipy.stats import chisquare

from local_kinesis import REPO_ROOT
from udfs import arms

WEIGHTS = {"champion": 80, "challenger": 20}


def ids(n: int, seed: int = 3) -> list[str]:
    rng = np.random.default_rng(seed)
    out = [rng.bytes(16).hex() for _ in range(n)]
    return out + ["", "página-ñ", "a:b", "x" * 300, "😀 emoji"]


def test_javascript_gives_the_same_bucket_and_arm() -> None:
    node = shutil.which("node")
    assert node, "node is required (the README lists Node 20)"
    cases = [("salt-1", WEIGHTS), ("2026-12", {"a": 1, "b": 1, "c": 1}), ("s", {"champion": 7, "challenger": 1})]
    for salt, weights in cases:
        sample = ids(2000, seed=len(salt))
        done = subprocess.run([node, str(REPO_ROOT / "serving" / "js" / "arm_split.mjs")], check=True,
                              capture_output=True, text=True, timeout=60,
                              input=json.dumps({"salt": salt, "weights": weights, "ids": sample}))
        got = [tuple(x) for x in json.loads(done.stdout)]
        want = [(arms.bucket(i, salt), arms.arm_for(i, salt, weights)) for i in sample]
        assert got == want, salt


def test_split_follows_the_weights_and_the_salt_reshuffles() -> None:
    sample = ids(100_000)
    first = [arms.arm_for(i, "salt-1", WEIGHTS) for i in sample]
    share = first.count("challenger") / len(first)
    assert share == pytest.approx(0.20, abs=0.005)
    again = [arms.arm_for(i, "salt-1", WEIGHTS) for i in sample]
    assert again == first  # deterministic
    other = [arms.arm_for(i, "salt-2", WEIGHTS) for i in sample]
    moved = sum(a != b for a, b in zip(first, other, strict=True)) / len(first)
    assert moved == pytest.approx(2 * 0.8 * 0.2, abs=0.01)  # independent draws under another salt


def test_sample_ratio_mismatch_matches_scipy() -> None:
    for counts in ({"champion": 8_050, "challenger": 1_950}, {"champion": 8_400, "challenger": 1_600}):
        want = chisquare([counts["challenger"], counts["champion"]], f_exp=[2_000, 8_000]).pvalue
        assert arms.sample_ratio_mismatch(counts, WEIGHTS) == pytest.approx(want, rel=1e-9)
    assert arms.sample_ratio_mismatch({"champion": 8_400, "challenger": 1_600}, WEIGHTS) < 0.001
    with pytest.raises(ValueError, match="weights"):
        arms.arm_for("x", "s", {"champion": 0})
