"""A Kubernetes API that runs pods as local processes, an S3 datastore served by moto, and the
Airflow connections that point a deployment at them (shared by the pod tests of both tiers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_metaflow.testing.kubernetes_api import KubernetesApiServer
from airflow_provider_metaflow.testing.s3 import S3Server

METAFLOW_CONN_ID = "metaflow_s3"
# What a user would never want in a DAG file or a task log: put in the connection's secret.
FAKE_SECRET = "fake-secret-9f3a7c-never-in-a-dag-file"


@dataclass(frozen=True)
class PodCluster:
    s3: S3Server
    kube: KubernetesApiServer
    kubeconfig: Path

    @property
    def metaflow_env(self) -> dict[str, str]:
        """What `airflow create` needs to upload the code package (the author's S3 config)."""
        return dict(self.s3.env)

    @property
    def connections(self) -> dict[str, str]:
        """AIRFLOW_CONN_* variables: the Kubernetes connection and a `metaflow` one for S3."""
        s3 = self.s3.env
        metaflow = {
            "conn_type": "metaflow",
            "extra": {
                "datastore": "s3",
                "datastore_root": s3["METAFLOW_DATASTORE_SYSROOT_S3"],
                "s3_endpoint_url": s3["METAFLOW_S3_ENDPOINT_URL"],
                "aws_access_key_id": s3["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": s3["AWS_SECRET_ACCESS_KEY"],
                "secret_environment": json.dumps({"METAFLOW_TEST_FAKE_SECRET": FAKE_SECRET}),
            },
        }
        kubernetes = {
            "conn_type": "kubernetes",
            "extra": {"in_cluster": False, "kube_config_path": str(self.kubeconfig)},
        }
        return {
            f"AIRFLOW_CONN_{METAFLOW_CONN_ID.upper()}": json.dumps(metaflow),
            "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(kubernetes),
        }


def start_pod_cluster(root: Path) -> PodCluster:
    """moto's S3 and a Kubernetes API whose pods run with this interpreter's Python first on
    PATH (the image's Python and Metaflow) and S3 credentials (as a service account would give),
    and no local Metaflow datastore of their own."""
    s3 = S3Server().start()
    pod_env = {
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": "",
        **{name: value for name, value in s3.env.items() if name.startswith("AWS_")},
    }
    kube = KubernetesApiServer(extra_env=pod_env).start()
    kubeconfig = kube.write_kubeconfig(root / "kubeconfig")
    return PodCluster(s3, kube, kubeconfig)


def run_artifacts(pathspec: str, env: Mapping[str, str]) -> dict[str, Any]:
    """`task_artifacts`, `task_counts`, attempts and output per step of a run on the S3 datastore,
    read by a client in a child process (this process's Metaflow was configured for the local
    datastore when it was imported)."""
    script = (
        "import json, sys\n"
        "from metaflow import Run\n"
        "from airflow_provider_metaflow.testing import task_artifacts, task_counts\n"
        "run = Run(sys.argv[1], _namespace_check=False)\n"
        "from pod_cluster import canonical\n"
        "attempts = {s.id: sorted(t.current_attempt for t in s) for s in run}\n"
        "stdout = {s.id: sorted(t.stdout for t in s) for s in run}\n"
        "print(json.dumps({'successful': run.successful, 'artifacts': canonical(task_artifacts(run)),"
        " 'task_counts': task_counts(run), 'attempts': attempts, 'stdout': stdout}))\n"
    )
    completed = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-c", script, pathspec],
        env={**os.environ, **env, "PYTHONPATH": str(Path(__file__).parent)},
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def canonical(artifacts: Mapping[str, Mapping[Any, Any]]) -> str:
    """task_artifacts as text that compares equal whatever order the client listed tasks in."""
    return json.dumps(
        {step: {repr(key): value for key, value in tasks.items()} for step, tasks in artifacts.items()},
        sort_keys=True,
        default=repr,
    )
