"""Helpers for the pod tests: load flows (through Metaflow's CLI, or in-process) and build the
pod the real KubernetesPodOperator would submit, against an API server address that only
counts connections, so a test can prove no cluster was contacted."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes.client import models as k8s
from metaflow.flowspec import FlowSpec  # noqa: TID251 - tests use Metaflow internals
from metaflow.graph import FlowGraph  # noqa: TID251 - tests use Metaflow internals

from airflow_provider_metaflow.compiler.errors import Problem
from airflow_provider_metaflow.compiler.kubernetes import KubernetesDefaults, pod_plan
from airflow_provider_metaflow.kubernetes.pod_spec import pod_operator_kwargs
from airflow_provider_metaflow.pod_plan import PodPlan
from metaflow_extensions.airflow_provider_metaflow.plugins.metaflow_deploy_adapter import image_registry

HERE = Path(__file__).parent
FLOWS = HERE / "flows"
LOADER = HERE / "load_pod_plans.py"
S3_OPTIONS = (
    "--datastore=s3",
    "--datastore-root=s3://pod-tests/metaflow",
)  # @kubernetes needs a remote datastore
# Configuration that would change the plans: the tests set what they need explicitly.
_CONFIG_PREFIXES = (
    "METAFLOW_KUBERNETES_",
    "METAFLOW_DEFAULT_CONTAINER_",
    "METAFLOW_DECOSPECS",
    "METAFLOW_DEFAULT_DECOSPECS",
    "METAFLOW_DEFAULT_RUNTIME_LIMIT",
    "METAFLOW_AIRFLOW_KUBERNETES_",
    "METAFLOW_PROFILE",
)


@dataclass
class Compiled:
    """One flow's pod plans by step (None for steps without @kubernetes), and its problems."""

    plans: dict[str, PodPlan | None]
    problems: list[str] = field(default_factory=list)


def plans_through_cli(
    flow_files: Sequence[str],
    metaflow_home: Path,
    *,
    options: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> dict[str, Compiled]:
    """Plans as `python flow.py [options] airflow create` would compute them, in a fresh process
    whose Metaflow configuration is only `metaflow_home` and `env`."""
    process_env = {k: v for k, v in os.environ.items() if not k.startswith(_CONFIG_PREFIXES)}
    process_env.update(
        {
            "METAFLOW_HOME": str(metaflow_home),
            "METAFLOW_USER": "tester",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            **(env or {}),
        }
    )
    argv = [sys.executable, str(LOADER), *(str(FLOWS / f) for f in flow_files), "--", *S3_OPTIONS, *options]
    done = subprocess.run(  # noqa: S603 - fixed argv
        argv, env=process_env, cwd=metaflow_home, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    output = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        Path(name).name: Compiled(
            plans={
                step: PodPlan.from_dict(plan) if plan is not None else None
                for step, plan in result["plans"].items()
            },
            problems=result["problems"],
        )
        for name, result in output.items()
    }


def graph_of(flow_file: str) -> FlowGraph:
    """The flow's graph in this process, with decorators as written (Metaflow has not initialised them)."""
    path = FLOWS / flow_file
    spec = importlib.util.spec_from_file_location(f"pod_tests_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (flow,) = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, FlowSpec) and v is not FlowSpec
    ]
    return FlowGraph(flow)


def plans_in_process(flow_file: str, defaults: KubernetesDefaults) -> Compiled:
    graph = graph_of(flow_file)
    problems: list[Problem] = []
    plans = {
        node.name: pod_plan(
            node, problems, flow_name=graph.name, defaults=defaults, image_registry=image_registry
        )
        for node in graph
    }
    return Compiled(plans=plans, problems=[str(p) for p in problems])


class ApiServerSentinel:
    """A loopback TCP listener standing where a Kubernetes API server would be: it accepts,
    counts and closes every connection, and answers nothing."""

    def __init__(self, directory: Path) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self._socket.settimeout(0.2)
        self.connections = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self.kubeconfig = directory / "kubeconfig.json"
        port = self._socket.getsockname()[1]
        self.kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "sentinel", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                    "users": [{"name": "tester", "user": {"token": "not-a-secret"}}],
                    "contexts": [{"name": "sentinel", "context": {"cluster": "sentinel", "user": "tester"}}],
                    "current-context": "sentinel",
                }
            )
        )

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            connection.close()

    @contextmanager
    def running(self) -> Iterator[ApiServerSentinel]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stopping.set()
            self._thread.join(timeout=5)
            self._socket.close()


def pod_operator(plan: PodPlan, kubeconfig: Path, task_id: str = "step") -> Any:
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    return KubernetesPodOperator(
        task_id=task_id, in_cluster=False, config_file=str(kubeconfig), **pod_operator_kwargs(plan)
    )


def build_pod(plan: PodPlan, kubeconfig: Path, task_id: str = "step") -> k8s.V1Pod:
    """The V1Pod the real KubernetesPodOperator would submit for this plan."""
    pod: k8s.V1Pod = pod_operator(plan, kubeconfig, task_id).build_pod_request_obj()
    return pod


def container(pod: k8s.V1Pod) -> k8s.V1Container:
    (only,) = pod.spec.containers
    return only


def env_values(pod: k8s.V1Pod) -> dict[str, str | None]:
    return {var.name: var.value for var in container(pod).env}
