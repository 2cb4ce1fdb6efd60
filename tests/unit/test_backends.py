"""The backend registry, and the names the pod bootstrap shares with the contract."""

from __future__ import annotations

import pytest

from airflow_provider_metaflow.backends.registry import BACKENDS, backend_entry, load_backend
from metaflow_extensions.airflow_provider_metaflow.plugins import contract, pod_bootstrap


def test_an_unknown_backend_is_refused_naming_the_known_ones_and_the_fix() -> None:
    with pytest.raises(ValueError) as refused:
        backend_entry("docker")

    message = str(refused.value)
    assert "Unknown execution backend 'docker'" in message
    assert "kubernetes, local" in message and "airflow create" in message


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_every_registered_backend_loads_as_a_factory_with_its_operator_importable(name: str) -> None:
    import airflow_provider_metaflow

    factory = load_backend(name)

    assert callable(factory) and hasattr(factory, "run") and hasattr(factory, "kill")
    operator = backend_entry(name).operator
    assert operator is None or getattr(airflow_provider_metaflow, operator) is not None


def test_the_pod_bootstrap_names_the_output_files_as_the_step_decorator_reads_them() -> None:
    """The bootstrap runs before the code package (and the contract) is in the pod."""
    assert pod_bootstrap.STDOUT_FILE_ENV == contract.ENV_STDOUT_FILE
    assert pod_bootstrap.STDERR_FILE_ENV == contract.ENV_STDERR_FILE


def test_each_task_group_of_a_dag_run_is_a_metaflow_run_of_its_own() -> None:
    from airflow_provider_metaflow.runtime.ids import metaflow_run_id

    ids = {
        metaflow_run_id("dag", "manual__1"),
        metaflow_run_id("dag", "manual__1", "first"),
        metaflow_run_id("dag", "manual__1", "second"),
        metaflow_run_id("dag", "manual__2", "first"),
    }
    assert len(ids) == 4
    assert metaflow_run_id("dag", "manual__1", "first") == metaflow_run_id("dag", "manual__1", "first")
