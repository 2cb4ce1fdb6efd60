"""Values Kubernetes or Metaflow would refuse are refused at compile time, each with the step, the
decorator and the attribute, what is wrong and what to write instead."""

from __future__ import annotations

import copy

import pytest
from pod_testing import graph_of, plans_in_process

from airflow_provider_metaflow.compiler.errors import Problem
from airflow_provider_metaflow.compiler.kubernetes import KubernetesDefaults, pod_plan
from metaflow_extensions.airflow_provider_metaflow.plugins.metaflow_deploy_adapter import image_registry

REFUSED = plans_in_process("pod_refused_flow.py", KubernetesDefaults())

# step -> (where the problem is, words the explanation must contain)
EXPECTED = {
    "start": ("@kubernetes(gpu_vendor='intel')", "must be one of nvidia, amd"),
    "misspelt_toleration": (
        "@kubernetes(tolerations=[{'key': 'dedicated', 'opertor'",
        "unknown fields ['opertor']",
    ),
    "exists_with_value": ("@kubernetes(tolerations=", "operator 'Exists' cannot have a value"),
    "not_a_toleration": ("@kubernetes(tolerations={'key': 'dedicated'})", "must be a list of tolerations"),
    "best_effort": ("@kubernetes(qos='BestEffort')", "must be one of Guaranteed, Burstable"),
    "memory_with_unit": ("@kubernetes(memory='8Gi')", "must be a number above zero (MB)"),
    "resources_cpu": ("@resources(cpu='many')", "must be a number above zero (cores)"),
    "label_value": ("@kubernetes(labels={'team': 'ML team!'})", "not a valid Kubernetes label value"),
    "namespace": ("@kubernetes(namespace='ML_Jobs')", "not a valid Kubernetes namespace name"),
    "camel_security": ("@kubernetes(security_context={'runAsUser': 1000})", "unknown field 'runAsUser'"),
    "relative_mount": ("@kubernetes(persistent_volume_claims=", "must be an absolute path"),
    "shared_mount": (
        "@kubernetes(persistent_volume_claims={'data': '/dev/shm'})",
        "shared_memory already uses",
    ),
    "high_port": ("@kubernetes(port=70000)", "above 65535"),
    "short_timeout": ("@timeout(seconds=30)", "at least 60 seconds"),
    "pull_policy": ("@kubernetes(image_pull_policy='always')", "must be one of Always, IfNotPresent, Never"),
    "pull_secret_string": ("@kubernetes(image_pull_secrets='regcred')", "must be a list of secret names"),
    "fractional_gpu": ("@kubernetes(gpu=0.5)", "must be a whole number of GPUs"),
}


@pytest.mark.parametrize("step", sorted(EXPECTED))
def test_invalid_value_is_refused_naming_step_and_attribute(step: str) -> None:
    where, explanation = EXPECTED[step]
    problems = [p for p in REFUSED.problems if p.startswith(f"step {step!r} ")]
    assert len(problems) == 1, REFUSED.problems
    assert problems[0].startswith(f"step {step!r} {where}")
    assert explanation in problems[0]
    assert REFUSED.plans[step] is None


def test_every_refused_step_is_refused_and_nothing_else() -> None:
    refused_steps = {p.split("'")[1] for p in REFUSED.problems}
    assert refused_steps == set(EXPECTED)
    assert REFUSED.plans["end"] is None


def test_refusals_say_what_to_write_instead() -> None:
    by_step = {p.split("'")[1]: p for p in REFUSED.problems}
    assert "Use one of 'Guaranteed', 'Burstable'." in by_step["best_effort"]
    assert "Use only key, operator, value, effect, toleration_seconds" in by_step["misspelt_toleration"]
    assert "Use V1SecurityContext's snake_case fields" in by_step["camel_security"]
    assert "Use @timeout(seconds=60) or longer." in by_step["short_timeout"]


def _problems_with(defaults: KubernetesDefaults) -> list[str]:
    node = graph_of("pod_basics_flow.py")["start"]
    problems: list[Problem] = []
    plan = pod_plan(
        node, problems, flow_name="PodBasicsFlow", defaults=defaults, image_registry=image_registry
    )
    assert plan is None
    return [str(p) for p in problems]


def test_a_bad_configured_default_names_its_configuration_setting() -> None:
    (tolerations,) = _problems_with(KubernetesDefaults(tolerations="[{not json"))
    assert tolerations.startswith("step 'start' @kubernetes(tolerations='[{not json')")
    assert "is not valid JSON" in tolerations
    assert "METAFLOW_KUBERNETES_TOLERATIONS" in tolerations
    (secrets,) = _problems_with(KubernetesDefaults(secrets="platform_env"))
    assert "'platform_env' is not a valid Kubernetes secret name" in secrets
    assert "METAFLOW_KUBERNETES_SECRETS" in secrets


def test_a_short_default_run_time_limit_is_refused_for_steps_without_timeout() -> None:
    (problem,) = _problems_with(KubernetesDefaults(run_time_limit=30))
    assert "at least 60 seconds" in problem and "METAFLOW_DEFAULT_RUNTIME_LIMIT" in problem
    assert "Add @timeout(seconds=60) or longer to the step." in problem


def test_an_attribute_this_provider_does_not_know_is_refused_unless_left_at_its_default() -> None:
    node = graph_of("pod_basics_flow.py")["start"]
    (kubernetes,) = [deco for deco in node.decorators if deco.name == "kubernetes"]
    newer = copy.copy(kubernetes)  # as a newer Metaflow's @kubernetes might carry
    newer.attributes = {**kubernetes.attributes, "spot_instances": True}
    newer_node = copy.copy(node)
    newer_node.decorators = [newer]
    problems: list[Problem] = []
    assert (
        pod_plan(
            newer_node, problems, flow_name="F", defaults=KubernetesDefaults(), image_registry=image_registry
        )
        is None
    )
    (problem,) = [str(p) for p in problems]
    assert problem.startswith("step 'start' @kubernetes(spot_instances=True): is not known to this provider")
    newer.defaults = {**kubernetes.defaults, "spot_instances": True}
    problems.clear()
    assert (
        pod_plan(
            newer_node, problems, flow_name="F", defaults=KubernetesDefaults(), image_registry=image_registry
        )
        is not None
    )
    assert problems == []


def test_compiling_never_changes_the_decorators() -> None:
    graph = graph_of("pod_volumes_flow.py")
    before = {node.name: [copy.deepcopy(d.attributes) for d in node.decorators] for node in graph}
    problems: list[Problem] = []
    for node in graph:
        pod_plan(
            node,
            problems,
            flow_name=graph.name,
            defaults=KubernetesDefaults(node_selector="a=b"),
            image_registry=image_registry,
        )
    assert problems == []
    assert {node.name: [d.attributes for d in node.decorators] for node in graph} == before
