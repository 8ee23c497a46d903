"""The definitions everything else is built from: the event, the segment-window features, the tables.

Data files (JSON schema, feature group, floors table, SQL DDL) sit beside the Python modules
that read them; the job, the simulator, training and the tests all take their names from here.
"""

from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent
SQL_DIR = SCHEMA_DIR / "sql"
