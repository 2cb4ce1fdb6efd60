"""Fixtures for the pod tests: the option flows compiled once through Metaflow's CLI, and an
API server address that counts connections."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes.client import models as k8s
from pod_testing import ApiServerSentinel, Compiled, build_pod, plans_through_cli

from airflow_provider_metaflow.pod_plan import PodPlan

OPTION_FLOWS = (
    "pod_basics_flow.py",
    "pod_resources_flow.py",
    "pod_scheduling_flow.py",
    "pod_volumes_flow.py",
    "pod_security_env_flow.py",
)


@pytest.fixture(scope="session")
def empty_metaflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Metaflow home without a config file: Metaflow's own defaults apply."""
    return tmp_path_factory.mktemp("metaflow-home")


@pytest.fixture(scope="session")
def option_plans(empty_metaflow_home: Path) -> dict[str, Compiled]:
    return plans_through_cli(OPTION_FLOWS, empty_metaflow_home)


@pytest.fixture(scope="session")
def api_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServerSentinel]:
    with ApiServerSentinel(tmp_path_factory.mktemp("kube")).running() as sentinel:
        yield sentinel


@pytest.fixture(scope="session")
def pod_of(
    option_plans: dict[str, Compiled], api_sentinel: ApiServerSentinel
) -> Callable[[str, str], tuple[PodPlan, k8s.V1Pod]]:
    """(plan, pod) of one step of an option flow, the plan checked free of problems first."""

    def get(flow_file: str, step: str) -> tuple[PodPlan, k8s.V1Pod]:
        compiled = option_plans[flow_file]
        assert compiled.problems == []
        plan = compiled.plans[step]
        assert plan is not None, f"{flow_file}:{step} has no pod"
        return plan, build_pod(plan, api_sentinel.kubeconfig, task_id=step)

    return get
