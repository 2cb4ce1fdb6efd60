"""Where the Airflow deployment is, and how to log in: from Metaflow config keys or environment
variables (`METAFLOW_AIRFLOW_API_URL`, ...; the extension reads them through Metaflow's config),
else the local Airflow that `airflow-metaflow-local start` runs. Credentials are only ever held
here and sent to the API: never written to a DAG file or printed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from airflow_provider_metaflow.local_airflow import USERNAME, LocalAirflow

# The Metaflow config keys (each also read from the environment variable METAFLOW_<KEY>).
API_URL = "AIRFLOW_API_URL"
API_TOKEN = "AIRFLOW_API_TOKEN"
API_USERNAME = "AIRFLOW_API_USERNAME"
API_PASSWORD = "AIRFLOW_API_PASSWORD"
DAGS_FOLDER = "AIRFLOW_DAGS_FOLDER"
KEYS = (API_URL, API_TOKEN, API_USERNAME, API_PASSWORD, DAGS_FOLDER)


class DeploymentNotConfigured(RuntimeError):
    """No Airflow deployment is configured and no local Airflow runs."""


@dataclass(frozen=True)
class AirflowDeployment:
    api_url: str
    dags_folder: str | None = None
    token: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    local_home: str | None = None  # the local Airflow's folder, when that is the deployment

    def __repr__(self) -> str:  # never show a credential, even in a traceback
        return f"AirflowDeployment(api_url={self.api_url!r}, dags_folder={self.dags_folder!r})"


def resolve_deployment(values: Mapping[str, str | None]) -> AirflowDeployment:
    """The configured deployment (`values`: config key -> value), else the local Airflow."""
    url = values.get(API_URL)
    if url:
        return AirflowDeployment(
            api_url=url.rstrip("/"),
            dags_folder=values.get(DAGS_FOLDER) or None,
            token=values.get(API_TOKEN) or None,
            username=values.get(API_USERNAME) or None,
            password=values.get(API_PASSWORD) or None,
        )
    local = LocalAirflow.at()
    state = local.state()
    if state is None:
        raise DeploymentNotConfigured(
            f"No Airflow deployment is configured (METAFLOW_{API_URL}, and METAFLOW_{API_TOKEN} or "
            f"METAFLOW_{API_USERNAME} and METAFLOW_{API_PASSWORD}), and no local Airflow runs from "
            f"{local.home}. Set them, or start one with `airflow-metaflow-local start`."
        )
    return AirflowDeployment(
        api_url=str(state["url"]),
        dags_folder=values.get(DAGS_FOLDER) or str(local.dags_folder),
        username=USERNAME,
        password=local.password(),
        local_home=str(local.home),
    )
