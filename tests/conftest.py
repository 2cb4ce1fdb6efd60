"""Test setup: one throwaway Airflow home (SQLite) and Metaflow datastore per session.

Airflow and Metaflow read their configuration when first imported, so the environment is
configured here, at collection time, before any test module imports either. The real-services
fixtures come from the harness's pytest plugin, which is opt-in: declared below, as a user's
conftest.py would.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airflow_provider_metaflow.testing import TestEnvironment, configure

if TYPE_CHECKING:
    from pod_cluster import PodCluster

    from airflow_provider_metaflow.testing.services import ServicesConfig

pytest_plugins = ["airflow_provider_metaflow.testing.plugin"]

FLOWS = Path(__file__).parent / "flows"
_SESSION_ROOT = Path(tempfile.mkdtemp(prefix="apm-tests-"))
ENV = configure(_SESSION_ROOT)


@pytest.fixture(scope="session")
def test_env() -> Iterator[TestEnvironment]:
    yield ENV
    shutil.rmtree(_SESSION_ROOT, ignore_errors=True)


@pytest.fixture(scope="session")
def pod_cluster(test_env: TestEnvironment) -> Iterator[PodCluster]:
    """A loopback Kubernetes API (pods are local processes) and an S3 datastore (moto)."""
    from pod_cluster import start_pod_cluster

    cluster = start_pod_cluster(test_env.root)
    try:
        yield cluster
    finally:
        cluster.kube.stop()
        cluster.s3.stop()


@pytest.fixture(scope="session")
def airflow_services_config(test_env: TestEnvironment, pod_cluster: PodCluster) -> ServicesConfig:
    """The real-services tier (airflow_provider_metaflow.testing.plugin) shares the session's
    Metaflow datastore with the tests' client, has its own Airflow home and dags folder, and the
    connections to the pod cluster."""
    from airflow_provider_metaflow.testing.services import ServicesConfig

    metaflow_env = {
        name: os.environ[name]
        for name in (
            "METAFLOW_DATASTORE_SYSROOT_LOCAL",
            "METAFLOW_DEFAULT_DATASTORE",
            "METAFLOW_DEFAULT_METADATA",
        )
    }
    return ServicesConfig(
        airflow_home=test_env.root / "services-home",
        dags_folder=test_env.root / "services-dags",
        extra_env={**metaflow_env, **pod_cluster.connections, "METAFLOW_USER": "tester"},
    )


@pytest.fixture(scope="session")
def airflow_db(test_env: TestEnvironment) -> TestEnvironment:
    test_env.migrate()
    return test_env


@pytest.fixture
def flow_copy(test_env: TestEnvironment):  # type: ignore[no-untyped-def]
    """Copy a test flow (and the data files test flows read) into the session's flows folder."""

    def copy(name: str) -> Path:
        for data_file in FLOWS.glob("*.txt"):
            shutil.copy(data_file, test_env.flows_folder / data_file.name)
        target = test_env.flows_folder / name
        shutil.copy(FLOWS / name, target)
        return target

    return copy


@pytest.fixture
def dag_path(test_env: TestEnvironment, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A DAG file path in the dags folder, removed afterwards so the folder stays small
    (dag.test() re-parses it on every call)."""
    stem = re.sub(r"\W+", "_", request.node.name)
    path = test_env.dags_folder / f"{stem}_dag.py"
    yield path
    path.unlink(missing_ok=True)
