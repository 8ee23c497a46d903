"""Load the application's CloudWatch alarms and dashboard into a CloudWatch endpoint.

The definitions are the ones in deploy/cloudformation/yield-app.yaml (the drift, rejected-rate,
floors-not-written, iterator-age and job-health alarms, and the dashboard): this script resolves
that template offline (deploy/cfn_resolve.py) and sends the same PutMetricAlarm / PutDashboard
requests CloudFormation would, so the local stand-in holds exactly what AWS gets.

    python deploy/monitoring.py [--endpoint http://127.0.0.1:5055] [--application predictive-yield]

Defaults: endpoint, region and credentials of the `Monitoring` property group (locally moto).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import botocore.session
from cfnlint.decode import decode

from deploy.cfn_resolve import Resolver, coerce

ROOT = Path(__file__).resolve().parent.parent

CFN_DIR = ROOT / "deploy" / "cloudformation"
DATA_TEMPLATE = CFN_DIR / "yield-data.yaml"
APP_TEMPLATE = CFN_DIR / "yield-app.yaml"
LOCAL_ACCOUNT = "123456789012"  # moto's account


def _template(path: Path) -> dict[str, Any]:
    tpl, matches = decode(path)
    if matches:
        raise ValueError(f"{path}: {matches}")
    return tpl


def _typed(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    shape = botocore.session.get_session().get_service_model("cloudwatch").operation_model(operation).input_shape
    return coerce(shape, params)


def definitions(application: str, region: str, account: str = LOCAL_ACCOUNT) -> tuple[list[dict], dict]:
    """(PutMetricAlarm requests, the PutDashboard request) of the app template, resolved."""
    data = _template(DATA_TEMPLATE)
    data_resolver = Resolver(data, "yield-data", region=region, account=account)
    exports = {data_resolver.resolve(out["Export"]["Name"]): data_resolver.resolve(out["Value"])
               for out in data["Outputs"].values() if "Export" in out}
    app = _template(APP_TEMPLATE)
    resolver = Resolver(app, "yield-app", exports, region=region, account=account,
                        parameters={"ApplicationName": application})
    alarms = [_typed("PutMetricAlarm", resolver.resolve(r["Properties"]))
              for r in app["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    (dashboard,) = [_typed("PutDashboard", resolver.resolve(r["Properties"]))
                    for r in app["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    return alarms, dashboard


def load(cloudwatch: Any, alarms: list[dict], dashboard: dict) -> None:
    for alarm in alarms:
        cloudwatch.put_metric_alarm(**alarm)
    response = cloudwatch.put_dashboard(**dashboard)
    if response.get("DashboardValidationMessages"):
        raise ValueError(f"dashboard refused: {response['DashboardValidationMessages']}")


def main(argv: list[str] | None = None) -> int:
    from flink_jobs.config import load_config
    from udfs.drift_monitor import cloudwatch_client

    monitoring = load_config().monitoring
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default=monitoring.endpoint)
    parser.add_argument("--region", default=monitoring.region)
    parser.add_argument("--application", default="predictive-yield")
    args = parser.parse_args(argv)
    client = cloudwatch_client({"region": args.region, "endpoint": args.endpoint,
                                "credentials": monitoring.credentials, "max_attempts": 3})
    alarms, dashboard = definitions(args.application, args.region)
    load(client, alarms, dashboard)
    print(f"{len(alarms)} alarms and dashboard {dashboard['DashboardName']!r} loaded into "
          f"{args.endpoint or 'AWS'} ({args.region})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
