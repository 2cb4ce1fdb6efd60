"""pytest fixtures that run real Airflow services (api-server, scheduler, dag-processor, triggerer).

The plugin is opt-in: installing the provider changes no pytest session. Install the `testing`
extra (`pip install "airflow-provider-metaflow[testing]"`) and load the plugin on the command line,
`pytest -p airflow_provider_metaflow.testing.plugin`, or in the top-level conftest.py:

    pytest_plugins = ["airflow_provider_metaflow.testing.plugin"]

It registers the `services` marker and the fixtures below. Loading it imports neither Airflow,
Metaflow nor the harness's HTTP and S3 libraries: the services start only when a test asks for them.

    import pytest

    @pytest.mark.services
    def test_my_dag_runs(airflow_services):
        (airflow_services.config.dags_folder / "my_dag.py").write_text(DAG_SOURCE)
        airflow_services.register_dags("my_dag")
        rest = airflow_services.rest
        run_id = rest.trigger_dag_run("my_dag", conf={"alpha": 1})
        assert rest.wait_for_dag_run("my_dag", run_id).state == "success"

`airflow_services` is one set of services for the whole session (started on first use, stopped
at the end of the session, also when tests fail). Its settings come from the session fixture
`airflow_services_config`; override it in your conftest.py to choose the dags folder, the
parallelism or the environment every task process sees:

    @pytest.fixture(scope="session")
    def airflow_services_config(tmp_path_factory):
        from airflow_provider_metaflow.testing.services import ServicesConfig

        root = tmp_path_factory.mktemp("airflow")
        return ServicesConfig(airflow_home=root / "home", dags_folder=root / "dags",
                              extra_env={"METAFLOW_USER": "tester"})

`airflow_services_factory` starts further, independent sets for one test (for example to stop
them), each with its own home and dags folder, and stops them when the test ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_metaflow.testing.rest import AirflowRestClient
    from airflow_provider_metaflow.testing.services import AirflowServices, ServicesConfig

MARKER = "services: starts real Airflow services (api-server, scheduler, dag-processor, triggerer)"


def pytest_configure(config: pytest.Config) -> None:
    if not any(str(line).startswith("services:") for line in config.getini("markers")):
        config.addinivalue_line("markers", MARKER)


@pytest.fixture(scope="session")
def airflow_services_config(tmp_path_factory: pytest.TempPathFactory) -> ServicesConfig:
    """Settings of the session's services: a temporary home and dags folder, defaults otherwise."""
    from airflow_provider_metaflow.testing.services import ServicesConfig

    root = tmp_path_factory.mktemp("airflow-services")
    return ServicesConfig(airflow_home=root / "home", dags_folder=root / "dags")


@pytest.fixture(scope="session")
def airflow_services(airflow_services_config: ServicesConfig) -> Iterator[AirflowServices]:
    """Running services for the whole session, healthy before the first test that uses them."""
    from airflow_provider_metaflow.testing.services import AirflowServices

    with AirflowServices(airflow_services_config) as services:
        yield services


@pytest.fixture(scope="session")
def airflow_rest(airflow_services: AirflowServices) -> AirflowRestClient:
    """The REST client of the session's services."""
    return airflow_services.rest


@pytest.fixture
def airflow_services_factory(
    airflow_services_config: ServicesConfig, tmp_path: Path
) -> Iterator[Callable[..., AirflowServices]]:
    """Start independent services for this test: `factory(triggerer=False, parallelism=2, ...)`.

    Each gets a fresh home and dags folder under the test's tmp_path and the session config's
    extra_env unless overridden; all are stopped when the test ends, whatever its outcome.
    """
    from dataclasses import replace

    from airflow_provider_metaflow.testing.services import AirflowServices

    started: list[AirflowServices] = []

    def start(**overrides: Any) -> AirflowServices:
        root = tmp_path / f"services-{len(started)}"
        defaults = {"airflow_home": root / "home", "dags_folder": root / "dags"}
        services = AirflowServices(replace(airflow_services_config, **{**defaults, **overrides}))
        started.append(services)
        return services.start()

    try:
        yield start
    finally:
        for services in started:
            services.stop()
