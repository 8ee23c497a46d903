"""Resolve a CloudFormation template's intrinsic functions offline, as CloudFormation would.

Used by the deployment tests (tests/unit/test_deploy.py: every request the templates make is checked
against botocore's models) and by deploy/monitoring.py (the template's alarms and dashboard,
loaded into the CloudWatch stand-in): one reading of the templates for both.
"""

from __future__ import annotations

import re
from typing import Any

from botocore.model import Shape

_NO_VALUE = object()
_SUB_VAR = re.compile(r"\$\{([^}]+)\}")


class Resolver:
    """Evaluates the intrinsic functions the templates use, as CloudFormation would with the
    parameter defaults (or `parameters`), in `region` / `account`. Resources get stand-in
    physical ids and ARNs; an alarm's ARN ends with its AlarmName, as in CloudWatch."""

    def __init__(self, tpl: dict[str, Any], stack: str, exports: dict[str, str] | None = None, *,
                 region: str, account: str, parameters: dict[str, str] | None = None):
        self.tpl = tpl
        self.exports = exports or {}
        self.region, self.account = region, account
        self.refs: dict[str, str] = {
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::Partition": "aws",
            "AWS::StackName": stack,
            "AWS::URLSuffix": "amazonaws.com",
        }
        for name, param in tpl.get("Parameters", {}).items():
            self.refs[name] = str((parameters or {}).get(name, param.get("Default", f"param-{name.lower()}")))
        for name, res in tpl.get("Resources", {}).items():
            self.refs.setdefault(name, self._physical_id(name, res))

    def _physical_id(self, name: str, res: dict[str, Any]) -> str:
        props = res.get("Properties", {})
        for key in ("Name", "BucketName", "TableName", "FeatureGroupName", "ApplicationName", "TopicName",
                    "LogGroupName", "AlarmName", "DashboardName"):
            if key in props:
                try:
                    value = str(self.resolve(props[key]))
                except KeyError:  # refers to another resource (e.g. the logging option's application)
                    continue
                return f"arn:aws:sns:{self.region}:{self.account}:{value}" if key == "TopicName" else value
        return f"{name.lower()}-physical-id"

    def get_att(self, name: str, attr: str) -> str:
        kind = self.tpl["Resources"][name]["Type"]
        ref = self.refs[name]
        known = {
            ("AWS::Kinesis::Stream", "Arn"): f"arn:aws:kinesis:{self.region}:{self.account}:stream/{ref}",
            ("AWS::DynamoDB::Table", "Arn"): f"arn:aws:dynamodb:{self.region}:{self.account}:table/{ref}",
            ("AWS::S3::Bucket", "Arn"): f"arn:aws:s3:::{ref}",
            ("AWS::KMS::Key", "Arn"): f"arn:aws:kms:{self.region}:{self.account}:key/{ref}",
            ("AWS::IAM::Role", "Arn"): f"arn:aws:iam::{self.account}:role/{ref}",
            ("AWS::Logs::LogGroup", "Arn"): f"arn:aws:logs:{self.region}:{self.account}:log-group:{ref}:*",
            ("AWS::CloudWatch::Alarm", "Arn"): f"arn:aws:cloudwatch:{self.region}:{self.account}:alarm:{ref}",
        }
        return known.get((kind, attr), f"{ref}-{attr.lower()}")

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.tpl["Conditions"][name]))

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            key = match.group(1)
            if key in variables:
                return str(variables[key])
            if key in self.refs:
                return self.refs[key]
            name, _, attr = key.partition(".")
            return self.get_att(name, attr)

        return _SUB_VAR.sub(one, text)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(x) for x in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return str(node) if isinstance(node, int | float) and not isinstance(node, bool) else node
        if len(node) == 1:
            (fn, arg), = node.items()
            if fn == "Ref":
                return _NO_VALUE if arg == "AWS::NoValue" else self.refs[arg]
            if fn == "Fn::GetAtt":
                name, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(name, attr)
            if fn == "Fn::Sub":
                if isinstance(arg, str):
                    return self.sub(arg, {})
                return self.sub(arg[0], {k: self.resolve(v) for k, v in arg[1].items()})
            if fn == "Fn::ImportValue":
                return self.exports[self.resolve(arg)]
            if fn == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if fn == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if fn == "Fn::Not":
                return not self.resolve(arg[0])
            if fn == "Condition":
                return self.condition(arg)
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in node.items()) if v is not _NO_VALUE}


def coerce(shape: Shape, value: Any) -> Any:
    """CloudFormation passes numbers and booleans as strings; the API wants them typed."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {k: coerce(shape.members[k], v) if k in shape.members else v for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [coerce(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: coerce(shape.value, v) for k, v in value.items()}
    if isinstance(value, str):
        if kind in ("integer", "long"):
            return int(value)
        if kind in ("float", "double"):
            return float(value)
        if kind == "boolean":
            return {"true": True, "false": False}[value.lower()]
    return value
