"""The auction event as `auction_event.schema.json` defines it: fields, their types and enums.

The schema file is the one definition of an event. The connector's parser validates against
it (it is shipped beside the job), the job takes its typed column names from `typed_column_names`,
and the simulator and the model take the enumerated values from `enum_values`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from schemas import SCHEMA_DIR

SCHEMA_PATH = SCHEMA_DIR / "auction_event.schema.json"

_SQL_TYPES = {"string": "STRING", "number": "DOUBLE", "integer": "INT", "boolean": "BOOLEAN"}


@dataclass(frozen=True)
class Field:
    name: str
    json_type: str  # string | number | integer | boolean
    required: bool
    spec: dict

    @property
    def sql_type(self) -> str:
        return _SQL_TYPES[self.json_type]


@cache
def load_schema(path: Path = SCHEMA_PATH) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def fields(schema: dict | None = None) -> list[Field]:
    schema = schema or load_schema()
    required = set(schema.get("required", []))
    out = []
    for name, spec in schema["properties"].items():
        types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        json_type = next(t for t in types if t != "null")
        if json_type not in _SQL_TYPES:
            raise ValueError(f"schema property {name}: type {json_type!r} is not supported by the SQL validation")
        out.append(Field(name, json_type, name in required, spec))
    return out


def typed_column_names(schema: dict | None = None) -> list[str]:
    """The typed event columns in schema order (event_time excluded: it is the rowtime)."""
    return [f.name for f in fields(schema) if f.name != "event_time"]


def enum_values(name: str) -> tuple[str, ...]:
    """The allowed values of an enumerated event field, in schema order (e.g. device_category)."""
    spec = load_schema()["properties"][name]
    if "enum" not in spec:
        raise ValueError(f"event field {name!r} has no enum in {SCHEMA_PATH.name}")
    return tuple(spec["enum"])


DEVICES = enum_values("device_category")
FORMATS = enum_values("format")
INVENTORY = enum_values("inventory_type")
