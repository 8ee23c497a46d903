"""Read back what the job wrote to the data lake (committed Parquet files only).

Flink's file sink keeps in-progress files hidden (names starting with '.'),
and pyarrow skips hidden files, so a read sees only checkpoint-committed data.
"""

from __future__ import annotations

from urllib.parse import urlparse

import pandas as pd
import pyarrow.dataset as ds

PREFIXES = {
    "raw": "raw",
    "raw_errors": "raw_errors",
    "raw_late": "raw_late",
    "features": "processed/features",
    "floors": "outputs/predictions/real_time",
    "drift": "outputs/monitoring/drift",
}


def local_path(lake_uri: str, prefix: str) -> str:
    parsed = urlparse(lake_uri)
    if parsed.scheme != "file":
        raise ValueError(f"reading the lake back is supported for file:// lakes, not {lake_uri}")
    return f"{parsed.path.rstrip('/')}/{PREFIXES.get(prefix, prefix)}"


def read(lake_uri: str, prefix: str) -> pd.DataFrame:
    """All committed rows under a prefix, partition columns included; empty if nothing yet."""
    path = local_path(lake_uri, prefix)
    try:
        dataset = ds.dataset(path, format="parquet", partitioning="hive")
    except FileNotFoundError:
        return pd.DataFrame()
    return dataset.to_table().to_pandas()
