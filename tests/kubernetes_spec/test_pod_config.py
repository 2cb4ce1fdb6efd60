"""Where pod settings come from (the author's Metaflow configuration, `--with`, METAFLOW_DECOSPECS),
that plans survive JSON, and that building a pod never talks to a cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes.client import models as k8s
from pod_testing import (
    ApiServerSentinel,
    Compiled,
    build_pod,
    container,
    plans_in_process,
    plans_through_cli,
    pod_operator,
)

from airflow_provider_metaflow.compiler.kubernetes import KubernetesDefaults
from airflow_provider_metaflow.pod_plan import PodPlan, Tmpfs, Toleration, VolumeClaim

CONFIGURED_ENV = {
    "METAFLOW_KUBERNETES_SERVICE_ACCOUNT": "flows",
    "METAFLOW_KUBERNETES_CONTAINER_IMAGE": "ml/base:2024.1",
    "METAFLOW_KUBERNETES_CONTAINER_REGISTRY": "registry.example.com/",
    "METAFLOW_KUBERNETES_IMAGE_PULL_POLICY": "IfNotPresent",
    "METAFLOW_KUBERNETES_IMAGE_PULL_SECRETS": '["regcred"]',
    "METAFLOW_KUBERNETES_NODE_SELECTOR": "pool=batch",
    "METAFLOW_KUBERNETES_TOLERATIONS": '[{"key": "batch", "operator": "Exists"}]',
    "METAFLOW_KUBERNETES_PERSISTENT_VOLUME_CLAIMS": '{"shared-cache": "/cache"}',
    "METAFLOW_KUBERNETES_LABELS": "team=ml,tier",
    "METAFLOW_KUBERNETES_ANNOTATIONS": "example.com/contact=ml-oncall",
    "METAFLOW_KUBERNETES_CPU": "2",
    "METAFLOW_KUBERNETES_MEMORY": "6000",
    "METAFLOW_KUBERNETES_DISK": "30000",
    "METAFLOW_KUBERNETES_GPU_VENDOR": "amd",
    "METAFLOW_KUBERNETES_QOS": "Guaranteed",
    "METAFLOW_KUBERNETES_SECRETS": "platform-env,db-credentials",
    "METAFLOW_KUBERNETES_PORT": "9090",
    "METAFLOW_DEFAULT_RUNTIME_LIMIT": "7200",
    "METAFLOW_AIRFLOW_KUBERNETES_STARTUP_TIMEOUT_SECONDS": "900",
}


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Compiled:
    """pod_basics_flow compiled by an author whose Metaflow configuration sets every default, some
    in the config file (where numbers stay numbers, as Metaflow wants for shared memory), the rest
    in the environment."""
    home = tmp_path_factory.mktemp("configured-home")
    config = {"METAFLOW_KUBERNETES_NAMESPACE": "ml-team", "METAFLOW_KUBERNETES_SHARED_MEMORY": 256}
    (home / "config.json").write_text(json.dumps(config))
    return plans_through_cli(["pod_basics_flow.py"], home, env=CONFIGURED_ENV)["pod_basics_flow.py"]


def test_defaults_come_from_the_authors_metaflow_config(configured: Compiled) -> None:
    assert configured.problems == []
    assert configured.plans["start"] == PodPlan(
        image="registry.example.com/ml/base:2024.1",
        namespace="ml-team",
        cpu=2,
        memory_mb=6000,
        disk_mb=30000,
        qos="Guaranteed",
        gpu_vendor="amd",
        image_pull_policy="IfNotPresent",
        image_pull_secrets=("regcred",),
        service_account="flows",
        node_selector={"pool": "batch"},
        tolerations=(Toleration(key="batch", operator="Exists"),),
        labels={
            "team": "ml",
            "tier": "",
            "app.kubernetes.io/name": "metaflow-task",
            "app.kubernetes.io/part-of": "metaflow",
        },
        annotations={
            "example.com/contact": "ml-oncall",
            "metaflow/flow_name": "PodBasicsFlow",
            "metaflow/step_name": "start",
        },
        shared_memory_mib=256,
        volume_claims=(VolumeClaim("shared-cache", "/cache"),),
        secrets=("platform-env", "db-credentials"),
        port=9090,
        active_deadline_seconds=7200,
        startup_timeout_seconds=900,
    )


def test_decorator_values_win_over_the_config_and_secrets_add_up(configured: Compiled) -> None:
    identity = configured.plans["identity"]
    assert identity is not None
    assert (identity.namespace, identity.service_account, identity.port) == ("ml-jobs", "trainer", 8080)
    assert identity.secrets == ("db-credentials", "api-token", "platform-env")
    custom = configured.plans["custom_image"]
    assert custom is not None
    # An image with its own registry keeps it; the pull policy and pull secrets given on the step win.
    assert custom.image == "ghcr.io/acme/train:1.4"
    assert (custom.image_pull_policy, custom.image_pull_secrets) == ("Always", ("regcred", "mirror-cred"))


def test_startup_timeout_reaches_the_operator(configured: Compiled, tmp_path: Path) -> None:
    plan = configured.plans["start"]
    assert plan is not None
    with ApiServerSentinel(tmp_path).running() as sentinel:
        operator = pod_operator(plan, sentinel.kubeconfig)
    assert operator.startup_timeout_seconds == 900
    assert operator.active_deadline_seconds == 7200


def test_with_kubernetes_runs_every_step_in_a_pod(empty_metaflow_home: Path) -> None:
    compiled = plans_through_cli(
        ["pod_everywhere_flow.py"], empty_metaflow_home, options=["--with", "kubernetes:cpu=3"]
    )["pod_everywhere_flow.py"]
    plans = compiled.plans
    assert compiled.problems == []
    assert all(plan is not None for plan in plans.values())
    assert {name: (plan.cpu, plan.memory_mb) for name, plan in plans.items() if plan} == {
        "start": (3, 4096),
        "bigger": (3, 9000),  # @resources still counts
        "own_pod": (1.5, 4096),  # a step's own @kubernetes wins over --with
        "end": (3, 4096),
    }


def test_metaflow_decospecs_runs_every_step_in_a_pod(empty_metaflow_home: Path) -> None:
    compiled = plans_through_cli(
        ["pod_everywhere_flow.py"], empty_metaflow_home, env={"METAFLOW_DECOSPECS": "kubernetes:memory=6000"}
    )["pod_everywhere_flow.py"]
    assert compiled.problems == []
    assert {name: (plan.cpu, plan.memory_mb) for name, plan in compiled.plans.items() if plan} == {
        "start": (1, 6000),
        "bigger": (1, 9000),
        "own_pod": (1.5, 4096),
        "end": (1, 6000),
    }


def test_plans_match_whether_or_not_metaflow_initialised_the_decorators(
    option_plans: dict[str, Compiled],
) -> None:
    for flow_file, through_cli in option_plans.items():
        assert plans_in_process(flow_file, KubernetesDefaults()) == through_cli, flow_file


def test_pod_plans_round_trip_through_json(option_plans: dict[str, Compiled]) -> None:
    plans = [plan for compiled in option_plans.values() for plan in compiled.plans.values() if plan]
    full = PodPlan(
        image="ghcr.io/acme/train:1.4",
        namespace="ml",
        cpu=0.25,
        memory_mb=1500.5,
        disk_mb=2048,
        qos="Guaranteed",
        gpu=0,
        gpu_vendor="amd",
        extended_resources={"example.com/fpga": "1"},
        executable="python3",
        image_pull_policy="Never",
        image_pull_secrets=("a", "b"),
        service_account="sa",
        node_selector={"k": "v"},
        tolerations=(
            Toleration(key="k", operator="Equal", value="v", effect="NoExecute", toleration_seconds=5),
        ),
        labels={"l": ""},
        annotations={"a": "{{ x }}"},
        shared_memory_mib=64,
        tmpfs=Tmpfs("/t", 10),
        volume_claims=(VolumeClaim("c", "/c"),),
        security_context={"run_as_user": 1, "capabilities": {"add": ["NET_ADMIN"]}},
        secrets=("s",),
        port=1,
        env={"A": "1"},
        timeout_seconds=60,
        active_deadline_seconds=60,
        startup_timeout_seconds=10,
    )
    for plan in [*plans, full]:
        text = plan.to_json()
        assert PodPlan.from_json(text) == plan
        assert PodPlan.from_json(text).to_json() == text
    assert len(plans) > 20


def test_a_plan_from_another_schema_version_is_refused() -> None:
    data = PodPlan(image="i", namespace="n", cpu=1, memory_mb=1, disk_mb=1).to_dict()
    data["schema_version"] = 99
    with pytest.raises(ValueError, match="regenerate the DAG"):
        PodPlan.from_dict(data)


def test_building_pods_never_contacts_the_cluster(option_plans: dict[str, Compiled], tmp_path: Path) -> None:
    plans = [plan for compiled in option_plans.values() for plan in compiled.plans.values() if plan]
    with ApiServerSentinel(tmp_path).running() as sentinel:
        pods = [build_pod(plan, sentinel.kubeconfig, task_id=f"t{i}") for i, plan in enumerate(plans)]
        assert all(isinstance(pod, k8s.V1Pod) and container(pod).image for pod in pods)
        assert sentinel.connections == 0
        # The same operator does reach the sentinel once it talks to the API: the check can fail.
        operator = pod_operator(plans[0], sentinel.kubeconfig)
        with pytest.raises(Exception):  # noqa: B017 - any failure: the sentinel answers nothing
            operator.client.list_namespaced_pod("default", _request_timeout=5)
    assert sentinel.connections > 0
