"""The one reader of the data lake: committed Parquet rows under a prefix, from file:// or s3:// lakes.

Flink's file sink keeps in-progress files hidden (names starting with '.' or '_'), and pyarrow
skips hidden files, so a read sees only checkpoint-committed data. Locally an s3:// lake is the
S3 stand-in named by $YIELD_S3_ENDPOINT (the variable the model store reads too).
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from udfs.model_store import S3_ENDPOINT_ENV

# Short names of the lake's prefixes (a name not listed is taken as a prefix itself).
PREFIXES = {
    "raw": "raw",
    "raw_errors": "raw_errors",
    "raw_late": "raw_late",
    "features": "processed/features",
    "floors": "outputs/predictions/real_time",
    "drift": "outputs/monitoring/drift",
}


class LakeError(ValueError):
    """The lake URI cannot be read (the message names it)."""


def filesystem(lake_uri: str) -> tuple[pafs.FileSystem, str]:
    """pyarrow's filesystem and the lake's base path in it, for a file:// or s3:// (s3a://) URI."""
    parsed = urlparse(lake_uri)
    if parsed.scheme == "file":
        return pafs.LocalFileSystem(), parsed.path.rstrip("/")
    if parsed.scheme in ("s3", "s3a"):
        options: dict[str, str] = {"region": os.environ.get("AWS_DEFAULT_REGION", "eu-west-1")}
        endpoint = os.environ.get(S3_ENDPOINT_ENV)
        if endpoint:
            endpoint_url = urlparse(endpoint)
            options |= {"endpoint_override": endpoint_url.netloc, "scheme": endpoint_url.scheme}
        return pafs.S3FileSystem(**options), f"{parsed.netloc}{parsed.path}".rstrip("/")
    raise LakeError(f"unsupported lake URI {lake_uri!r} (expected file:// or s3://)")


def path(lake_uri: str, prefix: str) -> str:
    """Where a prefix lives in the lake's filesystem (for messages and pyarrow)."""
    return f"{filesystem(lake_uri)[1]}/{PREFIXES.get(prefix, prefix)}"


def read(lake_uri: str, prefix: str, columns: list[str] | None = None,
         where: ds.Expression | None = None) -> pd.DataFrame:
    """All committed rows under a prefix (partition columns included unless `columns` names the ones
    wanted), optionally filtered; an empty frame when nothing is there yet."""
    fs, base = filesystem(lake_uri)
    location = f"{base}/{PREFIXES.get(prefix, prefix)}"
    if fs.get_file_info(location).type == pafs.FileType.NotFound:
        return pd.DataFrame(columns=columns or [])
    dataset = ds.dataset(location, filesystem=fs, format="parquet", partitioning="hive")
    return dataset.to_table(columns=columns, filter=where).to_pandas()
