"""The alarms and dashboard of deploy/cloudformation/yield-app.yaml, loaded into the CloudWatch
stand-in (moto) by deploy/monitoring.py (`make monitoring`), are accepted and read back as defined."""

from __future__ import annotations

import json
import uuid

from deploy import monitoring
from flink_jobs.config import load_config
from udfs.aws import aws_client

# alarm suffix -> (namespace, metric, comparison, threshold): what the brief and issue 6 ask for
REQUIRED = {
    "drift-warning": ("SSMAS/YieldPredictor/Drift", "GlobalDriftScore", "GreaterThanThreshold", 0.5),
    "drift-critical": ("SSMAS/YieldPredictor/Drift", "GlobalDriftScore", "GreaterThanThreshold", 0.7),
    "floors-not-written": ("AWS/DynamoDB", "ConsumedWriteCapacityUnits", "LessThanThreshold", 1.0),
    "falling-behind": ("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", "GreaterThanThreshold", 600000.0),
    "rejected-rate": ("AWS/KinesisAnalytics", "recordsRejected", "GreaterThanThreshold", 5.0),
}


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

