"""udfs/model_store.py over a local lake and over the S3 stand-in (moto)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from local_kinesis import standins
from tests.support.model_helpers import fresh_s3_lake
from udfs import drift, model_store


def _round_trip(lake: str) -> None:
    assert model_store.current_model(lake) is None  # never promoted: no manifest, not an error
    baseline = drift.build_baseline(pd.DataFrame({"cpm_eur": [0.5, 1.0, 4.0]}), ["cpm_eur"])
    model_store.write_bytes(model_store.join(lake, model_store.CURRENT, "v1", model_store.BASELINE_FILE),
                            baseline.to_json().encode())
    model_store.write_manifest(lake, "v1", trained_at="2026-11-25T00:00:00Z")
    ref = model_store.current_model(lake)
    assert ref is not None and ref.version == "v1" and ref.uri.endswith("/models/production/current/v1")
    assert model_store.load_baseline(ref) == baseline


def test_local_lake(tmp_path: Path):
    _round_trip(tmp_path.as_uri())


def test_s3_lake_on_the_stand_in(running_standins: None, monkeypatch: pytest.MonkeyPatch):
    _round_trip(fresh_s3_lake(monkeypatch, standins.MOTO_ENDPOINT))


def test_broken_manifest_and_baseline_are_named(tmp_path: Path):
    lake = tmp_path.as_uri()
    model_store.write_bytes(model_store.manifest_uri(lake), b"{not json")
    with pytest.raises(model_store.ModelStoreError, match="manifest.json"):
        model_store.current_model(lake)
    model_store.write_manifest(lake, "v2")
    ref = model_store.current_model(lake)
    with pytest.raises(model_store.ModelStoreError, match="baseline.json"):
        model_store.load_baseline(ref)
    with pytest.raises(model_store.ModelStoreError, match="unsupported URI scheme"):
        model_store.read_bytes("ftp://x/y")
