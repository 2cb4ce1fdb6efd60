"""A reusable harness: compile a flow, run it through Airflow's dag.test(), get the Metaflow Run.

Users can import these helpers (or the pytest fixtures in `plugin`) to test their own flows:
the same code drives this provider's end-to-end tests. Call `configure()` before anything
imports Airflow or Metaflow: both read their configuration at import time.
"""

from airflow_provider_metaflow.testing.environment import TestEnvironment, configure
from airflow_provider_metaflow.testing.runner import (
    DagRunResult,
    create_dag,
    run_dag,
    run_flow_locally,
    task_artifacts,
)

__all__ = [
    "DagRunResult",
    "TestEnvironment",
    "configure",
    "create_dag",
    "run_dag",
    "run_flow_locally",
    "task_artifacts",
]
