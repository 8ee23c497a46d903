"""Champion/challenger arms: which arm an impression belongs to, and whether the observed split
matches the configured one.

The split is deterministic: the arm of an impression (or page) id is a function of the id, a
salt and the weights, so every server, the browser and any later analysis agree without sharing
state, and changing the salt reshuffles everyone. The id and the salt are hashed with SHA-256
(as UTF-8 of ``salt + ":" + id``); the first 8 bytes, read as an unsigned big-endian integer,
modulo 10,000, give a bucket; arms take consecutive bucket ranges in the order of their names,
each as wide as its share of the weights. ``serving/js/arm_split.mjs`` is the same function in
JavaScript (a test holds the two equal on shared vectors).
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Callable, Mapping

BUCKETS = 10_000


def bucket(unit_id: str, salt: str) -> int:
    digest = hashlib.sha256(f"{salt}:{unit_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def bounds(weights: Mapping[str, float]) -> list[tuple[str, int]]:
    """(arm, first bucket past its range) in name order; the last arm ends at BUCKETS."""
    if not weights or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"arm weights must be non-negative with a positive sum: {dict(weights)}")
    total = float(sum(weights.values()))
    out, cumulative = [], 0.0
    for arm in sorted(weights):
        cumulative += weights[arm]
        out.append((arm, math.floor(BUCKETS * cumulative / total + 0.5)))  # half up, as the JS twin
    out[-1] = (out[-1][0], BUCKETS)
    return out


def arm_for(unit_id: str, salt: str, weights: Mapping[str, float]) -> str:
    b = bucket(unit_id, salt)
    for arm, end in bounds(weights):
        if b < end:
            return arm
    raise AssertionError("unreachable: the last arm ends at BUCKETS")


def splitter(salt: str, weights: Mapping[str, float]) -> Callable[[str], str]:
    """``arm_for`` with the salt and weights fixed and the bucket ranges computed once (a request
    path that assigns every impression: the hash alone is left per call)."""
    ranges = bounds(weights)
    names, ends = [arm for arm, _ in ranges], [end for _, end in ranges]

    def arm_of(unit_id: str) -> str:
        return names[bisect.bisect_right(ends, bucket(unit_id, salt))]  # the first range ending past it

    return arm_of


def sample_ratio_mismatch(counts: Mapping[str, int], weights: Mapping[str, float]) -> float:
    """The p-value of a chi-square test of the observed arm counts against the configured
    weights (a tiny p-value: the split is broken, e.g. an arm dropping traffic; the usual alarm
    is p < 0.001)."""
    from scipy.stats import chi2

    arms = sorted(weights)
    n = sum(counts.get(a, 0) for a in arms)
    total = float(sum(weights.values()))
    expected = [n * weights[a] / total for a in arms]
    stat = sum((counts.get(a, 0) - e) ** 2 / e for a, e in zip(arms, expected, strict=True) if e > 0)
    dof = sum(1 for e in expected if e > 0) - 1
    return float(chi2.sf(stat, dof)) if dof > 0 else 1.0
