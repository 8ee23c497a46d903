"""Small renderers of Flink SQL text shared by the graph and its branches.

The DDL files live in schemas/sql/ (one definition per table); everything here turns a
business definition (udfs/rules.py) or a duration into the SQL that expresses it.
"""

from __future__ import annotations

from string import Template

from schemas import SQL_DIR
from udfs import rules

# DATE_FORMAT's pattern for ISO-8601 UTC with milliseconds, quoted for use inside a SQL string.
ISO_8601 = "yyyy-MM-dd''T''HH:mm:ss.SSS''Z''"


def render_ddl(name: str, **values: str) -> str:
    """Read schemas/sql/<name>.sql and fill its ${placeholders}; a missing value is an error."""
    return Template((SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")).substitute(values)


def interval_sql(ms: int) -> str:
    """A day-time interval literal for any duration below 100 days.

    `INTERVAL '3600' SECOND` is rejected (leading precision 2) and Flink supports no larger
    precision in literals, so durations are written as 'd hh:mm:ss.fff' DAY TO SECOND(3).
    """
    days, rest = divmod(ms, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"INTERVAL '{days} {hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}' DAY TO SECOND(3)"


def with_options(options: dict[str, str]) -> str:
    return ",\n  ".join(f"'{k}' = '{v}'" for k, v in options.items())


def country_tier_sql(column: str = "country") -> str:
    tier1 = ", ".join(f"'{c}'" for c in sorted(rules.TIER_1))
    tier2 = ", ".join(f"'{c}'" for c in sorted(rules.TIER_2))
    return f"CASE WHEN {column} IN ({tier1}) THEN 1 WHEN {column} IN ({tier2}) THEN 2 ELSE 3 END"


def _sql_string(text: str) -> str:
    # Flink SQL string literals take a backslash as it is; only a quote is doubled.
    return "'" + text.replace("'", "''") + "'"


def segment_key_sql(columns: tuple[str, ...]) -> str:
    """SQL twin of rules.segment_key: each column as a string, the escape character doubled and
    the separator escaped (same order as rules.escape_key_part), joined by the separator."""
    escape, separator = rules.KEY_ESCAPE, rules.KEY_SEPARATOR
    parts = [
        f"REPLACE(REPLACE(CAST({c} AS STRING), {_sql_string(escape)}, {_sql_string(escape * 2)}), "
        f"{_sql_string(separator)}, {_sql_string(escape + separator)})"
        for c in columns
    ]
    return f" || {_sql_string(separator)} || ".join(parts)


def partition_columns(ts: str) -> str:
    """The lake's hive partition columns (year, month, day, hour) of a TIMESTAMP(3) expression.

    LAKE_YEAR(ts) is DATE_FORMAT(ts, 'yyyy') and so on (connector's LakePartition): the same text,
    formatted once per hour instead of four times per event. Needs pipeline.register_functions()."""
    return (
        f"LAKE_YEAR({ts}) AS `year`, LAKE_MONTH({ts}) AS `month`, "
        f"LAKE_DAY({ts}) AS `day`, LAKE_HOUR({ts}) AS `hour`"
    )


def prime_time_sql(hour: str) -> str:
    return f"{hour} BETWEEN {rules.PRIME_TIME_HOURS.start} AND {rules.PRIME_TIME_HOURS.stop - 1}"


def iso_day_of_week_sql(ts: str) -> str:
    # DAYOFWEEK is 1 = Sunday .. 7 = Saturday; ISO is 1 = Monday .. 7 = Sunday.
    return f"MOD(DAYOFWEEK({ts}) + 5, 7) + 1"
