"""Metaflow's Deployer API for Airflow: `Deployer("flow.py").airflow(name=...).create()`.

Registered in the extension's mfextinit (DEPLOYER_IMPL_PROVIDERS_DESC). Like Metaflow's own
deployers it drives the `airflow` CLI group in a subprocess: `create` (with no FILE it deploys to
the configured Airflow), `trigger`, `resume`, `terminate`, `delete`. Imported whenever Metaflow
loads its plugins, so it imports nothing but Metaflow's deployer base at module level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from metaflow.runner.deployer_impl import DeployerImpl

if TYPE_CHECKING:
    from .airflow_deployer_objects import AirflowDeployedFlow


class AirflowDeployer(DeployerImpl):
    """Deploy to Airflow. `name`: the DAG id (the flow name if not given; @project flows take
    their project's name and cannot set it)."""

    TYPE: ClassVar[str | None] = "airflow"

    def __init__(self, deployer_kwargs: dict[str, Any], **kwargs: Any) -> None:
        self._deployer_kwargs = deployer_kwargs
        super().__init__(**kwargs)

    @property
    def deployer_kwargs(self) -> dict[str, Any]:
        return self._deployer_kwargs

    @staticmethod
    def deployed_flow_type() -> type[AirflowDeployedFlow]:
        from .airflow_deployer_objects import AirflowDeployedFlow

        return AirflowDeployedFlow

    def create(self, **kwargs: Any) -> AirflowDeployedFlow:
        """Deploy the flow: the options of `python flow.py airflow create` as keyword arguments
        (`tags=[...]`, `max_workers=...`, `authorize=...`, ...). With no `file`, the DAG goes to
        the configured deployment (METAFLOW_AIRFLOW_API_URL, ...; else the local Airflow)."""
        from .airflow_deployer_objects import AirflowDeployedFlow

        return self._create(AirflowDeployedFlow, **kwargs)  # type: ignore[return-value]
