"""A deployment's REST API (v2) through Airflow's own generated client (apache-airflow-client),
for the lifecycle commands. Imported only by those commands: the client is an optional extra."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Any

from airflow_provider_metaflow.remote.settings import AirflowDeployment


class AirflowApiFailed(RuntimeError):
    """The API refused a call: what was asked, and what it answered."""


@dataclass(frozen=True)
class DagRunState:
    run_id: str
    state: str
    start_date: str | None
    end_date: str | None
    conf: dict[str, Any]


def access_token(deployment: AirflowDeployment) -> str | None:
    """The deployment's token, or one from the auth manager's token endpoint for the user, or
    None (an API that needs no login)."""
    if deployment.token:
        return deployment.token
    if not (deployment.username and deployment.password):
        return None
    request = urllib.request.Request(  # noqa: S310 - the configured http(s) URL
        f"{deployment.api_url}/auth/token",
        data=json.dumps({"username": deployment.username, "password": deployment.password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return str(json.load(response)["access_token"])
    except OSError as error:
        raise AirflowApiFailed(
            f"Could not log in to {deployment.api_url} as {deployment.username!r}: {error}. Check "
            "METAFLOW_AIRFLOW_API_USERNAME and METAFLOW_AIRFLOW_API_PASSWORD."
        ) from None


class AirflowApi:
    """The calls the lifecycle commands make, each raising AirflowApiFailed with Airflow's answer."""

    def __init__(self, deployment: AirflowDeployment) -> None:
        import airflow_client.client as client

        self._client = client
        configuration = client.Configuration(host=deployment.api_url, access_token=access_token(deployment))
        self._api = client.ApiClient(configuration)
        self.deployment = deployment

    def _call(self, what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except self._client.ApiException as error:
            raise AirflowApiFailed(
                f"{what} at {self.deployment.api_url}: HTTP {error.status} {error.reason}: {error.body}"
            ) from None

    def has_dag(self, dag_id: str) -> bool:
        try:
            self._client.DAGApi(self._api).get_dag(dag_id)
        except self._client.ApiException as error:
            if error.status == 404:
                return False
            raise AirflowApiFailed(f"Reading DAG {dag_id}: HTTP {error.status}: {error.body}") from None
        return True

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> DagRunState:
        body = self._client.TriggerDAGRunPostBody(dag_run_id=run_id, conf=conf, logical_date=None)
        run = self._call(
            f"Triggering DAG {dag_id}", self._client.DagRunApi(self._api).trigger_dag_run, dag_id, body
        )
        return _state(run)

    def run(self, dag_id: str, run_id: str) -> DagRunState:
        return _state(
            self._call(f"Reading run {run_id}", self._client.DagRunApi(self._api).get_dag_run, dag_id, run_id)
        )

    def runs(self, dag_id: str, limit: int = 100) -> list[DagRunState]:
        answer = self._call(
            f"Listing runs of {dag_id}",
            self._client.DagRunApi(self._api).get_dag_runs,
            dag_id,
            limit=limit,
            order_by=["-run_after"],
        )
        return [_state(run) for run in answer.dag_runs]

    def terminate(self, dag_id: str, run_id: str) -> DagRunState:
        """Mark the run failed: Airflow stops its running tasks, whose operators stop their step
        processes and pods (on_kill)."""
        body = self._client.DAGRunPatchBody(state=self._client.DagRunMutableStates.FAILED)
        run = self._call(
            f"Terminating run {run_id}", self._client.DagRunApi(self._api).patch_dag_run, dag_id, run_id, body
        )
        return _state(run)

    def dag_file(self, dag_id: str) -> str | None:
        """Where the deployment read the DAG from (its fileloc)."""
        details = self._call(f"Reading DAG {dag_id}", self._client.DAGApi(self._api).get_dag_details, dag_id)
        return str(details.fileloc) if details.fileloc else None

    def delete_dag(self, dag_id: str) -> None:
        self._call(f"Deleting DAG {dag_id}", self._client.DAGApi(self._api).delete_dag, dag_id)


def _state(run: Any) -> DagRunState:
    state = getattr(run.state, "value", run.state)
    return DagRunState(
        run_id=str(run.dag_run_id),
        state=str(state),
        start_date=run.start_date.isoformat() if run.start_date else None,
        end_date=run.end_date.isoformat() if run.end_date else None,
        conf=dict(run.conf or {}),
    )
