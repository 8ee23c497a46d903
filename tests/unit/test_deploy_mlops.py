"""The MLOps loop's AWS shape (deploy/cloudformation/mlops/yield-mlops.yaml) without an AWS
account: cfn-lint clean; the state machine's graph (valid state types, every Next/Default/Catch
target exists, every state reachable, every path ends); its task resources are service
integrations Step Functions offers, and their parameters are valid for the real APIs
(botocore's models of ECS RunTask, S3 GetObject, SNS Publish, and Step Functions'
CreateStateMachine for the definition); its containers run the entry points of training/mlops.py
with the environment it reads; the roles reach only what the loop needs."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import decode

from training import mlops

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "cloudformation" / "mlops" / "yield-mlops.yaml"
REGION = "eu-west-1"
STATE_TYPES = {"Task", "Choice", "Pass", "Wait", "Succeed", "Fail", "Parallel", "Map"}
# Resource -> (botocore service, operation, how Step Functions names the parameters).
INTEGRATIONS = {
    "arn:aws:states:::ecs:runTask.sync": ("ecs", "RunTask", "pascal"),
    "arn:aws:states:::aws-sdk:s3:getObject": ("s3", "GetObject", "same"),
    "arn:aws:states:::sns:publish": ("sns", "Publish", "same"),
    "arn:aws:states:::sns:publish.waitForTaskToken": ("sns", "Publish", "same"),
}
SUBSTITUTED = {  # plausible values for the DefinitionSubstitutions, to validate the parameters with
    "Cluster": "arn:aws:ecs:eu-west-1:123456789012:cluster/yield-mlops",
    "TaskDefinition": "arn:aws:ecs:eu-west-1:123456789012:task-definition/yield-mlops:1",
    "Subnets": "subnet-1,subnet-2", "SecurityGroup": "sg-1", "LakeBucket": "ssmas-yield-lake",
    "Topic": "arn:aws:sns:eu-west-1:123456789012:yield-mlops", "RequireApproval": "true",
    "LookbackHours": "6", "RecentDays": "3", "EvalDays": "1",
}


@cache
def template() -> dict[str, Any]:
    parsed, matches = decode(str(TEMPLATE))
    assert not matches, matches
    return parsed


def machine() -> dict[str, Any]:
    return template()["Resources"]["StateMachine"]["Properties"]


def definition() -> dict[str, Any]:
    """The definition with the substitutions applied, as Step Functions receives it."""
    text = json.dumps(machine()["Definition"])
    assert set(re.findall(r"\$\{(\w+)\}", text)) == set(machine()["DefinitionSubstitutions"]) == set(SUBSTITUTED)
    return json.loads(re.sub(r"\$\{(\w+)\}", lambda m: SUBSTITUTED[m.group(1)], text))


def states() -> dict[str, dict[str, Any]]:
    return definition()["States"]


def targets(state: dict[str, Any]) -> list[str]:
    found = [state[k] for k in ("Next", "Default") if k in state]
    found += [c["Next"] for c in state.get("Choices", [])]
    found += [c["Next"] for c in state.get("Catch", [])]
    return found


@cache
def service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def validate(service: str, operation: str, params: dict[str, Any]) -> None:
    shape = service_model(service).operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    assert not report.has_errors(), f"{service}.{operation}:\n{report.generate_report()}"


def api_params(params: Any, naming: str) -> Any:
    """Step Functions' parameters as the API takes them: a dynamic "Key.$" becomes "Key" with a
    placeholder string (the path's value at run time); ECS's service integration names the
    parameters in PascalCase where the API has camelCase."""
    if isinstance(params, list):
        return [api_params(v, naming) for v in params]
    if not isinstance(params, dict):
        return params
    out = {}
    for key, value in params.items():
        if key.endswith(".$"):
            key, value = key[:-2], ["subnet-1"] if key == "Subnets.$" else "dynamic-value"
        if naming == "pascal":
            key = key[0].lower() + key[1:]
        out[key] = api_params(value, naming)
    return out


def test_cfn_lint_clean() -> None:
    matches = lint_file(TEMPLATE, config=ManualArgs(regions=[REGION]))
    assert not matches, "\n".join(str(m) for m in matches)


def test_state_graph_is_valid_and_every_state_is_reachable() -> None:
    d = definition()
    all_states = states()
    assert d["StartAt"] in all_states
    for name, state in all_states.items():
        assert state["Type"] in STATE_TYPES, name
        for target in targets(state):
            assert target in all_states, f"{name} -> {target}"
        if state["Type"] in ("Task", "Pass", "Wait"):
            assert ("Next" in state) != bool(state.get("End")), f"{name}: exactly one of Next and End"
        if state["Type"] == "Choice":
            assert "Default" in state and state["Choices"], name
    seen, todo = set(), [d["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(targets(all_states[name]))
    assert seen == set(all_states), set(all_states) - seen
    # The seed's shape: drift check -> retrain / schedule / monitoring only; train; evaluate; decide; deploy.
    choice = all_states["EvaluateDriftLevel"]
    assert {c["StringEquals"]: c["Next"] for c in choice["Choices"]} == {
        "retrain": "TriggerRetraining", "schedule": "ScheduleRetraining", "error": "NotifyFailure"}
    assert choice["Default"] == "MonitoringOnly"
    assert all_states["RequestApproval"]["Resource"].endswith(".waitForTaskToken")
    assert "$$.Task.Token" in all_states["RequestApproval"]["Parameters"]["Message.$"]


def test_tasks_are_service_integrations_with_parameters_valid_for_the_apis() -> None:
    tasks = {n: s for n, s in states().items() if s["Type"] == "Task"}
    assert tasks
    for name, state in tasks.items():
        assert state["Resource"] in INTEGRATIONS, f"{name}: {state['Resource']}"
        service, operation, naming = INTEGRATIONS[state["Resource"]]
        validate(service, operation, api_params(state["Parameters"], naming))
    # And the definition as a whole, as CreateStateMachine takes it.
    validate("stepfunctions", "CreateStateMachine", {
        "name": "yield-mlops", "definition": json.dumps(definition()),
        "roleArn": "arn:aws:iam::123456789012:role/x", "type": machine()["StateMachineType"]})


def test_containers_run_the_mlops_entry_points_with_the_environment_they_read() -> None:
    steps = set(mlops.parser()._subparsers._group_actions[0].choices)  # noqa: SLF001 - the CLI's own step names
    run = [s for s in states().values() if s.get("Resource") == "arn:aws:states:::ecs:runTask.sync"]
    commands = []
    for state in run:
        (override,) = state["Parameters"]["Overrides"]["ContainerOverrides"]
        assert override["Name"] == "mlops"
        command = override["Command"]
        assert command[:3] == ["python", "-m", "training.mlops"] and command[3] in steps
        commands.append(command[3])
        env = {e["Name"] for e in override["Environment"]}
        assert mlops.RUN_ID_ENV in env
        assert env <= {mlops.RUN_ID_ENV, mlops.VERSION_ENV, mlops.REQUIRE_APPROVAL_ENV}
        mlops.parser().parse_args(command[3:])  # the arguments are the CLI's
    assert commands == ["check-drift", "retrain", "evaluate", "challenger", "promote"]
    # Each result the state machine reads back is where mlops writes it under $MLOPS_RUN_ID.
    reads = [s["Parameters"]["Key.$"] for s in states().values()
             if s.get("Resource") == "arn:aws:states:::aws-sdk:s3:getObject"]
    for key, step in zip(reads, ["check-drift", "retrain", "evaluate", "promote"], strict=True):
        assert f"'{mlops.RUNS_PREFIX}/{{}}/{step}.json'" in key
    container = template()["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert {e["Name"] for e in container["Environment"]} >= {mlops.LAKE_ENV, "YIELD_CODE_VERSION"}


def test_roles_reach_only_the_loops_resources() -> None:
    resources = template()["Resources"]

    def statements(role: str) -> list[dict[str, Any]]:
        return [s for p in resources[role]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]

    task = statements("TaskRole")
    writes = [s for s in task if "s3:PutObject" in s["Action"]]
    assert len(writes) == 1 and writes[0]["Resource"]["Fn::Sub"][0] == "${Bucket}/models/*"
    machine_actions = {a for s in statements("StateMachineRole") for a in
                       (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert "ecs:RunTask" in machine_actions and not any(a.endswith("*") for a in machine_actions)
    run = next(s for s in statements("StateMachineRole") if s["Action"] == "ecs:RunTask")
    assert run["Condition"]["ArnEquals"]["ecs:cluster"] == {"Fn::GetAtt": ["Cluster", "Arn"]}
    assert statements("ScheduleRole") == [{"Effect": "Allow", "Action": "states:StartExecution",
                                           "Resource": {"Ref": "StateMachine"}}]
    rule = next(r for r in resources.values() if r["Type"] == "AWS::Events::Rule")["Properties"]
    assert rule["Targets"][0]["Arn"] == {"Ref": "StateMachine"}


@pytest.mark.parametrize("resource", sorted(INTEGRATIONS))
def test_integrations_name_real_operations(resource: str) -> None:
    service, operation, _naming = INTEGRATIONS[resource]
    assert operation in service_model(service).operation_names
