"""Many workers: CeleryExecutor with two workers in working folders of their own and a real
Redis broker, running local-process steps on the S3 datastore (so no worker needs another's
disk). Tasks land on both workers, and the run equals `python flow.py run`."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pod_cluster import PodCluster, canonical, run_artifacts

from airflow_provider_metaflow.runtime.ids import metaflow_run_id
from airflow_provider_metaflow.testing import create_dag, run_flow_locally, task_artifacts, task_counts
from airflow_provider_metaflow.testing.services import AirflowServices, free_port

pytestmark = pytest.mark.services

FLOWS = Path(__file__).resolve().parent.parent / "flows"


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """Debian's redis-server on a free loopback port, stopped by its PID."""
    redis = shutil.which("redis-server")
    assert redis, "redis-server is not installed: `apt-get install redis-server` (.ci/run does)"
    port = free_port("127.0.0.1")
    server = subprocess.Popen(  # noqa: S603 - fixed argv
        [
            redis,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while (
            subprocess.run(  # noqa: S603
                [shutil.which("redis-cli") or "redis-cli", "-p", str(port), "ping"],
                capture_output=True,
                text=True,
            ).stdout.strip()
            != "PONG"
        ):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


# Starts its own services with two Celery workers and Redis: about 100 s on two loaded cores.
@pytest.mark.timeout(600)
def test_a_foreach_on_two_celery_workers_with_the_s3_datastore_matches_the_local_run(
    airflow_services_factory: Callable[..., AirflowServices],
    pod_cluster: PodCluster,
    redis_url: str,
    tmp_path: Path,
) -> None:
    s3 = pod_cluster.metaflow_env
    services = airflow_services_factory(
        triggerer=False,
        celery_workers=2,
        extra_env={
            **s3,
            "METAFLOW_USER": "tester",
            "METAFLOW_DEFAULT_METADATA": "local",
            "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(tmp_path / "metadata"),
            "AIRFLOW__CELERY__BROKER_URL": f"{redis_url}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"{redis_url}/1",
        },
        celery_worker_env=[{"TEST_WORKER_NAME": "worker-0"}, {"TEST_WORKER_NAME": "worker-1"}],
    )
    flows = services.config.dags_folder / "flows"
    flows.mkdir(parents=True)
    flow_file = flows / "celery_foreach_flow.py"
    shutil.copy(FLOWS / "celery_foreach_flow.py", flow_file)
    create_dag(flow_file, services.config.dags_folder / "celery_foreach_dag.py", env=s3)
    services.register_dags("CeleryForeachFlow")

    run_id = services.rest.trigger_dag_run("CeleryForeachFlow")
    assert services.rest.wait_for_dag_run("CeleryForeachFlow", run_id, timeout=600).state == "success"

    pathspec = f"CeleryForeachFlow/{metaflow_run_id('CeleryForeachFlow', run_id)}"
    env = {**s3, "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(tmp_path / "metadata")}
    remote = run_artifacts(pathspec, env)
    local_copy = tmp_path / "celery_foreach_flow.py"
    shutil.copy(FLOWS / "celery_foreach_flow.py", local_copy)
    local_run = run_flow_locally(local_copy)
    assert remote["task_counts"] == task_counts(local_run)
    assert remote["artifacts"] == canonical(task_artifacts(local_run))
    workers = {
        line.split(":", 1)[1].strip()
        for output in remote["stdout"]["work"]
        for line in output.splitlines()
        if line.startswith("worker:")
    }
    assert workers == {"worker-0", "worker-1"}
