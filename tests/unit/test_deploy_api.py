"""The floor API's AWS shape (deploy/cloudformation/api/yield-api.yaml) without an AWS account:
cfn-lint clean, the task role reads only the floors table, API Gateway requires the key on the
predict routes and not on the public ones, the container runs the app the way the template says,
and the app's gateway mode (`YIELD_API_AUTH=gateway`) answers without checking a key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import decode
from starlette.testclient import TestClient

from serving import api, keys
from serving.metrics import LATENCY_METRIC, NAMESPACE
from serving.snapshot import FloorsSnapshot

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "cloudformation" / "api" / "yield-api.yaml"
REGION = "eu-west-1"
REQUEST = {"impression_id": "imp-1", "hour_of_day": 21, "day_of_week": 3, "country_tier": 1,
           "device_category": "mobile", "format": "banner", "inventory_type": "premium"}


def template() -> dict[str, Any]:
    parsed, matches = decode(str(TEMPLATE))
    assert not matches, matches
    return parsed


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template()["Resources"].items() if r["Type"] == kind}


def test_cfn_lint_clean() -> None:
    matches = lint_file(TEMPLATE, config=ManualArgs(regions=[REGION]))
    assert not matches, "\n".join(str(m) for m in matches)


def test_task_role_reads_only_the_floors_table_and_the_key_secret_and_writes_only_its_metrics() -> None:
    role = template()["Resources"]["TaskRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert [(s["Action"], s["Resource"]) for s in statements] == [
        ("dynamodb:Scan", {"Fn::ImportValue": {"Fn::Sub": "${DataStackName}-FloorsTableArn"}}),
        ("kms:Decrypt", {"Fn::ImportValue": {"Fn::Sub": "${DataStackName}-DataKeyArn"}}),
        ("secretsmanager:GetSecretValue", {"Ref": "ApiKeysSecret"}),
        ("cloudwatch:PutMetricData", "*"),
    ]
    assert statements[3]["Condition"] == {"StringEquals": {"cloudwatch:namespace": NAMESPACE}}
    assert statements[1]["Condition"]["StringEquals"]["kms:ViaService"] == {
        "Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"}
    assert all(s["Effect"] == "Allow" for s in statements)


def test_gateway_requires_the_key_on_predict_only_and_throttles_in_a_usage_plan() -> None:
    methods = resources("AWS::ApiGateway::Method")
    by_uri = {m["Properties"]["Integration"]["Uri"]["Fn::Sub"].split("}", 1)[1]: m["Properties"]
              for m in methods.values()}
    assert set(by_uri) == {"/v2/predict", "/v2/predict/batch", "/v2/health", "/v2/floors/prebid/{domain}"}
    assert {uri for uri, m in by_uri.items() if m.get("ApiKeyRequired")} == {"/v2/predict", "/v2/predict/batch"}
    plan = next(iter(resources("AWS::ApiGateway::UsagePlan").values()))["Properties"]
    assert plan["Throttle"] == {"RateLimit": {"Ref": "RateLimitPerSecond"}, "BurstLimit": {"Ref": "BurstLimit"}}
    assert resources("AWS::ApiGateway::UsagePlanKey")
    # the backend's routes are the app's routes
    app_paths = {route.path for route in api.create_app(
        api.Settings(table="t", auth="gateway"), snapshot=FloorsSnapshot("t", None),
        background_refresh=False).routes}
    assert set(by_uri) <= app_paths


def test_container_runs_the_api_in_gateway_mode_and_the_load_balancer_checks_health() -> None:
    container = template()["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert container["Command"][:3] == ["python", "-m", "serving.api"]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env["YIELD_API_AUTH"] == {"Fn::If": ["AppChecksKeys", "keys", "gateway"]}
    assert template()["Conditions"]["AppChecksKeys"] == {"Fn::Equals": [{"Ref": "AppKeyCheck"}, "secret"]}
    assert env["YIELD_API_KEYS_SECRET"] == {"Ref": "ApiKeysSecret"} and env["YIELD_API_SECRETS_ENDPOINT"] == "aws"
    assert env["YIELD_API_DYNAMODB_ENDPOINT"] == "aws"
    assert "--no-access-log" not in container["Command"] and env["YIELD_API_ACCESS_LOG"] == "json"
    assert env["YIELD_API_ACCESS_LOG_SAMPLE"] == {"Ref": "AccessLogSample"}
    assert env["YIELD_API_METRICS"] == "cloudwatch" and env["YIELD_API_METRICS_ENDPOINT"] == "aws"
    settings = api.Settings.from_env({"YIELD_API_AUTH": "gateway", "YIELD_API_DYNAMODB_ENDPOINT": "aws",
                                      "YIELD_API_TABLE": "floors", "YIELD_API_REGION": REGION})
    assert (settings.auth, settings.endpoint, settings.table) == ("gateway", None, "floors")
    on_aws = api.Settings.from_env({"YIELD_API_AUTH": "keys", "YIELD_API_KEYS_SECRET": "arn:secret",
                                    "YIELD_API_SECRETS_ENDPOINT": "aws", "YIELD_API_DYNAMODB_ENDPOINT": "aws"})
    assert (on_aws.auth, on_aws.api_keys_secret, on_aws.secrets_endpoint) == ("keys", "arn:secret", None)
    secret = template()["Resources"]["ApiKeysSecret"]["Properties"]
    assert keys.parse_keys(json.loads(secret["SecretString"]), "template") == []
    alarms = {a["Properties"].get("MetricName"): a["Properties"] for a in resources("AWS::CloudWatch::Alarm").values()}
    assert alarms[LATENCY_METRIC]["Namespace"] == NAMESPACE and alarms[LATENCY_METRIC]["ExtendedStatistic"] == "p95"
    target = next(iter(resources("AWS::ElasticLoadBalancingV2::TargetGroup").values()))["Properties"]
    assert target["HealthCheckPath"] == "/v2/health"


def make_client(auth: str, tmp_path: Path) -> TestClient:
    settings = api.Settings(table="t", auth=auth, api_keys_path=tmp_path / "none.json")
    return TestClient(api.create_app(settings, snapshot=FloorsSnapshot("t", None), background_refresh=False))


def test_gateway_mode_answers_without_a_key(tmp_path: Path) -> None:
    with make_client("gateway", tmp_path) as client:
        one = client.post("/v2/predict", json=REQUEST)
        assert one.status_code == 200 and one.json()["level"] == "static"
        batch = client.post("/v2/predict/batch", json=[REQUEST] * 3)
        assert batch.status_code == 200 and len(batch.json()) == 3
        assert client.post("/v2/predict", json={**REQUEST, "hour_of_day": 24}).json()["field"] == "hour_of_day"
    with make_client("keys", tmp_path) as client:  # the default still wants a key
        assert client.post("/v2/predict", json=REQUEST).status_code == 401
    with pytest.raises(ValueError, match="auth"):
        make_client("none", tmp_path)


def expand(rows: list[list[Any]]) -> list[tuple[list[str], dict[str, Any]]]:
    """A dashboard widget's metric rows with CloudWatch's shorthand ('.' = the value above, '...' = the
    leading values of the row above) expanded: [(namespace, name, dim, value, ...), options]."""
    out: list[tuple[list[str], dict[str, Any]]] = []
    for row in rows:
        options = row[-1] if isinstance(row[-1], dict) else {}
        values = [v for v in row if not isinstance(v, dict)]
        if values[:1] == ["..."]:
            previous = out[-1][0]
            values = previous[: len(previous) - (len(values) - 1)] + values[1:]
        else:
            values = [out[-1][0][i] if v == "." else v for i, v in enumerate(values)]
        out.append((values, options))
    return out


def test_dashboard_shows_latency_percentiles_levels_refusals_and_every_alarm() -> None:
    import botocore.session
    from botocore.validate import ParamValidator

    from deploy.cfn_resolve import Resolver

    tpl = template()
    resolver = Resolver(tpl, "yield-api", region=REGION, account="123456789012")
    (dashboard,) = [resolver.resolve(r["Properties"]) for r in tpl["Resources"].values()
                    if r["Type"] == "AWS::CloudWatch::Dashboard"]
    shape = botocore.session.get_session().get_service_model("cloudwatch").operation_model("PutDashboard").input_shape
    report = ParamValidator().validate(dashboard, shape)
    assert not report.has_errors(), report.generate_report()
    body = json.loads(dashboard["DashboardBody"])
    shown = {a for w in body["widgets"] if w["type"] == "alarm" for a in w["properties"]["alarms"]}
    assert shown == {resolver.get_att(name, "Arn") for name in resources("AWS::CloudWatch::Alarm")}
    widgets = {w["properties"]["title"]: expand(w["properties"]["metrics"])
               for w in body["widgets"] if w["type"] == "metric"}
    ours = [(m, o) for rows in widgets.values() for m, o in rows if m[0] == NAMESPACE]
    latency = [o["stat"] for m, o in ours if m == [NAMESPACE, LATENCY_METRIC]]
    assert latency == ["p50", "p95", "p99"]
    assert {m[3] for m, _ in ours if m[1] == "Predictions" and m[2] == "Level"} == {"fine", "coarse", "static"}
    assert {m[3] for m, _ in ours if m[1] == "Errors" and m[2] == "Status"} >= {"400", "401", "403", "429"}
    gateway = [m[1] for rows in widgets.values() for m, _ in rows if m[0] == "AWS/ApiGateway"]
    assert {"Count", "4XXError", "5XXError", "Latency"} <= set(gateway)
    latency_widget = next(w for w in body["widgets"] if "PredictionLatency" in w["properties"].get("title", ""))
    assert latency_widget["properties"]["annotations"]["horizontal"][0]["value"] == 50
