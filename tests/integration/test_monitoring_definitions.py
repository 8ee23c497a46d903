"""The alarms and dashboard of deploy/cloudformation/yield-app.yaml, loaded into the CloudWatch
stand-in (moto) by deploy/monitoring.py (`make monitoring`), are accepted and read back as defined,
and the alarms built on metric math give sane values through restarts.

What moto does and does not do: it stores the alarms and dashboard, keeps the datapoints put to
it and returns their per-period statistics (GetMetricData on an alarm's MetricStat inputs), but
it evaluates no metric math beyond a bare id and never evaluates an alarm. So the inputs of the
counter and job-health alarms come from moto, and their expressions are evaluated here by
`MetricMath`, which implements the few functions the alarms use as CloudWatch documents them
(DIFF against the preceding datapoint, IF elementwise, MAX over an array of series). The
expressions' shape is also checked offline, without moto.
"""

from __future__ import annotations

import ast
import json
import operator
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from deploy import monitoring
from flink_jobs.config import load_config
from udfs.aws import aws_client

REGION = "eu-west-1"

# alarm suffix -> (namespace, metric, comparison, threshold): what the brief and issue 6 ask for
REQUIRED = {
    "drift-warning": ("SSMAS/YieldPredictor/Drift", "GlobalDriftScore", "GreaterThanThreshold", 0.5),
    "drift-critical": ("SSMAS/YieldPredictor/Drift", "GlobalDriftScore", "GreaterThanThreshold", 0.7),
    "floors-not-written": ("AWS/DynamoDB", "ConsumedWriteCapacityUnits", "LessThanThreshold", 1.0),
    # The larger of the job's slowest reader and the stream's iterator age (the first metric is the job's).
    "falling-behind": ("AWS/KinesisAnalytics", "maxMillisBehindLatest", "GreaterThanThreshold", 600000.0),
    "rejected-rate": ("AWS/KinesisAnalytics", "recordsRejected", "GreaterThanThreshold", 5.0),
    # Flink 2.2: `downtime` is deprecated; restartingTime and failingTime replace it.
    "job-down": ("AWS/KinesisAnalytics", "restartingTime", "GreaterThanThreshold", 0.0),
}
# Running totals since the job (or application) started: only their increases mean anything.
CUMULATIVE = {"recordsRead", "recordsRejected", "recordsAccepted", "recordsLate", "numRestarts",
              "numberOfFailedCheckpoints"}


def _metric(alarm: dict) -> tuple[str, str]:
    if "MetricName" in alarm:
        return alarm["Namespace"], alarm["MetricName"]
    stat = next(q["MetricStat"]["Metric"] for q in alarm["Metrics"] if "MetricStat" in q)
    return stat["Namespace"], stat["MetricName"]


def test_alarms_and_dashboard_load_into_the_stand_in(running_standins: None):
    application = f"predictive-yield-{uuid.uuid4().hex[:8]}"  # the stand-in is shared
    config = load_config().monitoring
    alarms, dashboard = monitoring.definitions(application, config.region)
    cloudwatch = aws_client("cloudwatch", config.endpoint, config.region)
    monitoring.load(cloudwatch, alarms, dashboard)

    stored = cloudwatch.describe_alarms(AlarmNamePrefix=f"{application}-")
    stored = {a["AlarmName"]: a for a in stored["MetricAlarms"] + stored.get("CompositeAlarms", [])}
    assert set(stored) == {a["AlarmName"] for a in alarms}
    for alarm in alarms:
        got = stored[alarm["AlarmName"]]
        assert got["Threshold"] == alarm["Threshold"]
        assert got["ComparisonOperator"] == alarm["ComparisonOperator"]
        assert got["EvaluationPeriods"] == alarm["EvaluationPeriods"]
        assert _metric(got) == _metric(alarm)
    for suffix, (namespace, metric, comparison, threshold) in REQUIRED.items():
        got = stored[f"{application}-{suffix}"]
        assert (_metric(got), got["ComparisonOperator"], got["Threshold"]) == (
            (namespace, metric), comparison, threshold), suffix
    assert stored[f"{application}-floors-not-written"]["Period"] == 3600
    assert stored[f"{application}-floors-not-written"]["TreatMissingData"] == "breaching"

    body = json.loads(cloudwatch.get_dashboard(DashboardName=application)["DashboardBody"])
    assert body == json.loads(dashboard["DashboardBody"])
    shown = {a.rsplit(":", 1)[1] for w in body["widgets"] if w["type"] == "alarm" for a in w["properties"]["alarms"]}
    assert shown == set(stored)  # every alarm is on the dashboard, by its real name
    drift_metrics = [m for w in body["widgets"] if w["type"] == "metric" for m in w["properties"]["metrics"]
                     if "FeatureDriftScore" in m or m[:1] == ["..."]]
    assert len(drift_metrics) == len(load_config().monitoring.drift_features)


# --------------------------------------------------------------------------- metric math, offline

Series = dict[datetime, float]
Value = Series | float


class MetricMath:
    """Evaluates the metric math the alarms use over series read back from CloudWatch.

    Ids, numbers, + - * /, comparisons (1 or 0), IF(condition, a, b), DIFF(series) (each
    datapoint minus the preceding one; the first has none), MAX([series, ...]) (the largest
    value at each timestamp). A binary operation on two series keeps the timestamps both have;
    a division by zero gives no datapoint, so an unguarded one shows up as a missing value.
    """

    BINARY: dict[type, Callable[[float, float], float]] = {
        ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Lt: lambda a, b: float(a < b), ast.Gt: lambda a, b: float(a > b),
        ast.LtE: lambda a, b: float(a <= b), ast.GtE: lambda a, b: float(a >= b),
    }

    def __init__(self, inputs: dict[str, Series]):
        self.values: dict[str, Value] = dict(inputs)

    def define(self, query_id: str, expression: str) -> Value:
        self.values[query_id] = self.evaluate(ast.parse(expression, mode="eval").body)
        return self.values[query_id]

    def evaluate(self, node: ast.expr) -> Value:
        if isinstance(node, ast.Name):
            return self.values[node.id]
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.BinOp):
            return self.combine(self.BINARY[type(node.op)], self.evaluate(node.left), self.evaluate(node.right))
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            return self.combine(self.BINARY[type(node.ops[0])], self.evaluate(node.left),
                                self.evaluate(node.comparators[0]))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name, args = node.func.id, node.args
            if name == "DIFF":
                series = self.evaluate(args[0])
                times = sorted(series)
                return {t: series[t] - series[p] for p, t in zip(times, times[1:], strict=False)}
            if name == "IF":
                condition, when_true, when_false = (self.evaluate(a) for a in args)
                picked = {t: when_true if c else when_false for t, c in condition.items()}
                return {t: (v[t] if isinstance(v, dict) else v) for t, v in picked.items()
                        if not isinstance(v, dict) or t in v}
            if name == "MAX" and isinstance(args[0], ast.List):
                series = [self.evaluate(a) for a in args[0].elts]
                times = set().union(*series)
                return {t: max(s[t] for s in series if t in s) for t in times}
        raise NotImplementedError(f"metric math not modelled here: {ast.unparse(node)}")

    @staticmethod
    def combine(fn: Callable[[float, float], float], a: Value, b: Value) -> Value:
        def one(x: float, y: float) -> float | None:
            try:
                return fn(x, y)
            except ZeroDivisionError:
                return None

        if isinstance(a, dict) and isinstance(b, dict):
            pairs = {t: one(a[t], b[t]) for t in a.keys() & b.keys()}
        elif isinstance(a, dict):
            pairs = {t: one(x, b) for t, x in a.items()}
        elif isinstance(b, dict):
            pairs = {t: one(a, y) for t, y in b.items()}
        else:
            return fn(a, b)
        return {t: v for t, v in pairs.items() if v is not None}


def expression_ids(expression: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(expression, mode="eval")) if isinstance(n, ast.Name)} - {
        "IF", "DIFF", "MAX"}


def math_alarms() -> dict[str, dict[str, Any]]:
    alarms, _ = monitoring.definitions("predictive-yield", REGION)
    return {a["AlarmName"].removeprefix("predictive-yield-"): a for a in alarms if "Metrics" in a}


def guarded_divisions(expression: str) -> bool:
    """Whether every division in the expression sits in the true branch of an IF whose condition
    is `<its denominator> > 0`."""
    tree = ast.parse(expression, mode="eval")
    guards = [(ast.unparse(n.args[0]), set(map(id, ast.walk(n.args[1])))) for n in ast.walk(tree)
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "IF"]
    divisions = [n for n in ast.walk(tree) if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div)]
    return all(any(condition == f"{ast.unparse(d.right)} > 0" and id(d) in branch for condition, branch in guards)
               for d in divisions)


def test_metric_math_is_well_formed_and_reads_running_totals_by_their_increase():
    """Offline (no moto): what CloudWatch would refuse or get wrong, checked on the definitions."""
    alarms = math_alarms()
    assert {"job-down", "job-restarting", "checkpoints-failing", "rejected-rate"} <= set(alarms)
    for name, alarm in alarms.items():
        queries = alarm["Metrics"]
        assert [q["ReturnData"] for q in queries].count(True) == 1, name
        defined: set[str] = set()
        for query in queries:  # an expression refers only to queries defined before it
            if "Expression" in query:
                assert expression_ids(query["Expression"]) <= defined, (name, query["Id"])
            defined.add(query["Id"])
        totals = {q["Id"] for q in queries
                  if "MetricStat" in q and q["MetricStat"]["Metric"]["MetricName"] in CUMULATIVE}
        for query in queries:
            if query["Id"] in totals:  # the period's latest total, never a sum of totals
                assert query["MetricStat"]["Stat"] == "Maximum", (name, query["Id"])
            if "Expression" in query:
                expression = query["Expression"]
                # A running total is read by its increase: DIFF of it wherever it is used.
                for total in expression_ids(expression) & totals:
                    assert f"DIFF({total})" in expression, (name, query["Id"], total)
                assert guarded_divisions(expression), (name, expression)
    assert not guarded_divisions("100 * rejected / read")  # the check itself sees an unguarded one
    assert not guarded_divisions("IF(rejected > 0, 100 * rejected / read, 0)")


# --------------------------------------------------------------------------- through moto


START = (datetime.now(UTC) - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)


def put_minutes(cloudwatch: Any, application: str, metric: str, values: list[float]) -> None:
    """One datapoint a minute from START: what MSF forwards for the application."""
    data = [{"MetricName": metric, "Dimensions": [{"Name": "Application", "Value": application}],
             "Timestamp": START + timedelta(minutes=i), "Value": v, "Unit": "Count"} for i, v in enumerate(values)]
    for i in range(0, len(data), 500):
        cloudwatch.put_metric_data(Namespace="AWS/KinesisAnalytics", MetricData=data[i:i + 500])


def alarm_series(cloudwatch: Any, alarm: dict[str, Any], minutes: int) -> Series:
    """The alarm's returned series: its MetricStat inputs from CloudWatch (moto), its expressions here."""
    stats = [{"Id": q["Id"], "MetricStat": q["MetricStat"], "ReturnData": True} for q in alarm["Metrics"]
             if "MetricStat" in q]
    answer = cloudwatch.get_metric_data(MetricDataQueries=stats, StartTime=START,
                                        EndTime=START + timedelta(minutes=minutes))
    inputs = {r["Id"]: {t.astimezone(UTC): v for t, v in zip(r["Timestamps"], r["Values"], strict=True)}
              for r in answer["MetricDataResults"]}
    assert all(inputs.values()), "moto returned no datapoints for an input"
    math = MetricMath(inputs)
    for query in alarm["Metrics"]:
        if "Expression" in query:
            math.define(query["Id"], query["Expression"])
    (returned,) = [q["Id"] for q in alarm["Metrics"] if q["ReturnData"]]
    return math.values[returned]


def alarm_fires(alarm: dict[str, Any], values: list[float]) -> bool:
    """Whether the last EvaluationPeriods values breach DatapointsToAlarm times (no missing data)."""
    window = values[-alarm["EvaluationPeriods"]:]
    compare = {"GreaterThanThreshold": operator.gt, "LessThanThreshold": operator.lt}[alarm["ComparisonOperator"]]
    breaching = sum(compare(v, alarm["Threshold"]) for v in window)
    return breaching >= alarm.get("DatapointsToAlarm", alarm["EvaluationPeriods"])


@pytest.fixture
def cloudwatch_with_alarms(running_standins: None) -> tuple[Any, str, dict[str, dict[str, Any]]]:
    application = f"predictive-yield-{uuid.uuid4().hex[:8]}"
    config = load_config().monitoring
    alarms, dashboard = monitoring.definitions(application, config.region)
    cloudwatch = aws_client("cloudwatch", config.endpoint, config.region)
    monitoring.load(cloudwatch, alarms, dashboard)
    stored = cloudwatch.describe_alarms(AlarmNamePrefix=f"{application}-")["MetricAlarms"]
    return cloudwatch, application, {a["AlarmName"].removeprefix(f"{application}-"): a for a in stored}


def running_total(per_minute: list[float], restart_at: int | None = None) -> list[float]:
    """What a Flink counter reports each minute: the total since start, back to 0 at a restart."""
    totals, total = [], 0.0
    for minute, count in enumerate(per_minute):
        total = count if minute == restart_at else total + count
        totals.append(total)
    return totals


def test_rejected_rate_is_per_period_through_a_restart(cloudwatch_with_alarms):
    cloudwatch, application, alarms = cloudwatch_with_alarms
    alarm = alarms["rejected-rate"]
    # 75 minutes of 1,000 records a minute: 1 % rejected, the job restarts at minute 30 (both
    # totals start again from 0), a bad producer makes 20 % rejects from minute 45, and from
    # minute 60 nothing arrives at all.
    read = [1000.0] * 60 + [0.0] * 15
    rejected = [10.0] * 45 + [200.0] * 15 + [0.0] * 15
    put_minutes(cloudwatch, application, "recordsRead", running_total(read, restart_at=30))
    put_minutes(cloudwatch, application, "recordsRejected", running_total(rejected, restart_at=30))

    percent = alarm_series(cloudwatch, alarm, minutes=75)
    # One value per 5 minutes after the first (DIFF needs a preceding period): none lost, none
    # negative or above 100 (the restart), none missing (the idle periods divide nothing).
    values = [percent[START + timedelta(minutes=5 * i)] for i in range(1, 15)]
    assert values == pytest.approx([1.0] * 8 + [20.0] * 3 + [0.0] * 3)
    assert not alarm_fires(alarm, values[:8])  # through the restart: quiet
    assert alarm_fires(alarm, values[:11])  # 3 periods at 20 %: fires
    assert not alarm_fires(alarm, values)  # nothing read: 0 %, not an alarm


def test_job_down_sees_failing_or_restarting_minutes(cloudwatch_with_alarms):
    cloudwatch, application, alarms = cloudwatch_with_alarms
    alarm = alarms["job-down"]
    # Running, then restarting for three minutes (one of them failing first), running again, and
    # a single one-minute restart later: MSF reports each state's time in ms, 0 when not in it.
    restarting = [0.0] * 10 + [20_000.0, 50_000.0, 80_000.0] + [0.0] * 7 + [5_000.0] + [0.0] * 4
    failing = [0.0] * 11 + [3_000.0] + [0.0] * 13
    put_minutes(cloudwatch, application, "restartingTime", restarting)
    put_minutes(cloudwatch, application, "failingTime", failing)

    down = alarm_series(cloudwatch, alarm, minutes=25)
    values = [down[START + timedelta(minutes=i)] for i in range(25)]
    assert values == [max(r, f) for r, f in zip(restarting, failing, strict=True)]
    assert alarm_fires(alarm, values[:15])  # 3 of the 5 minutes 10-14 down
    assert not alarm_fires(alarm, values[:25])  # one restart minute in 20-24: no alarm


def test_job_restarting_ignores_a_redeploy_that_resets_the_count(cloudwatch_with_alarms):
    cloudwatch, application, alarms = cloudwatch_with_alarms
    alarm = alarms["job-restarting"]
    # numRestarts: one restart at minute 12; an operator's update at minute 25 starts the count again.
    restarts = [0.0] * 12 + [1.0] * 13 + [0.0] * 10
    put_minutes(cloudwatch, application, "numRestarts", restarts)

    new = alarm_series(cloudwatch, alarm, minutes=35)
    values = [new[START + timedelta(minutes=5 * i)] for i in range(1, 7)]
    assert values == [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    assert alarm_fires(alarm, values[:2]) and not alarm_fires(alarm, values)
