"""A reusable harness: compile a flow, run it through Airflow, get the Metaflow Run.

Users can import these helpers (or the pytest fixtures in `plugin`) to test their own flows:
the same code drives this provider's end-to-end tests. Install the `testing` extra
(`pip install "airflow-provider-metaflow[testing]"`). Call `configure()` before anything imports
Airflow or Metaflow: both read their configuration at import time.

- `dag.test()` in this process: `configure`, `create_dag`, `run_dag`, `run_flow_locally`; compare
  the Metaflow runs with `task_counts` (tasks per step) and `task_artifacts`.
- Real Airflow services on loopback: `AirflowServices`, and the opt-in pytest plugin
  `airflow_provider_metaflow.testing.plugin` (`-p` or `pytest_plugins`) with the
  `airflow_services` fixture.
- A Kubernetes API that runs pods as local processes, and an S3 endpoint: `KubernetesApiServer`,
  `S3Server`.

Importing this package imports neither Airflow nor Metaflow (so `configure()` can still come
first), nor httpx, aiohttp, moto or boto3: the REST client and the servers load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_metaflow import lazy_attributes
from airflow_provider_metaflow.testing.environment import TestEnvironment, configure
from airflow_provider_metaflow.testing.runner import (
    DagRunResult,
    create_dag,
    run_dag,
    run_flow_locally,
    task_artifacts,
    task_counts,
)
from airflow_provider_metaflow.testing.services import AirflowServices, ServicesConfig, ServicesError

if TYPE_CHECKING:
    from airflow_provider_metaflow.testing.kubernetes_api import ApiRequest, KubernetesApiServer
    from airflow_provider_metaflow.testing.rest import AirflowApiError, AirflowRestClient
    from airflow_provider_metaflow.testing.s3 import S3Server

_LAZY_NAMES = {
    "AirflowRestClient": "airflow_provider_metaflow.testing.rest",
    "AirflowApiError": "airflow_provider_metaflow.testing.rest",
    "KubernetesApiServer": "airflow_provider_metaflow.testing.kubernetes_api",
    "ApiRequest": "airflow_provider_metaflow.testing.kubernetes_api",
    "S3Server": "airflow_provider_metaflow.testing.s3",
}

__all__ = [
    "AirflowApiError",
    "AirflowRestClient",
    "AirflowServices",
    "ApiRequest",
    "DagRunResult",
    "KubernetesApiServer",
    "S3Server",
    "ServicesConfig",
    "ServicesError",
    "TestEnvironment",
    "configure",
    "create_dag",
    "run_dag",
    "run_flow_locally",
    "task_artifacts",
    "task_counts",
]


__getattr__ = lazy_attributes(__name__, _LAZY_NAMES, globals())
