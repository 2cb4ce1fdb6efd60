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
class DagDetails:
    dag_id: str
    fileloc: str | None
    file_token: str | None
    last_parsed_time: str | None
    is_paused: bool
    tags: tuple[str, ...]
    params: dict[str, Any]


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

    def dag_details(self, dag_id: str) -> DagDetails | None:
        """The DAG as the deployment last parsed it, or None when it lists no such DAG."""
        try:
            details = self._client.DAGApi(self._api).get_dag_details(dag_id)
        except self._client.ApiException as error:
            if error.status == 404:
                return None
            raise AirflowApiFailed(f"Reading DAG {dag_id}: HTTP {error.status}: {error.body}") from None
        return DagDetails(
            dag_id=str(details.dag_id),
            fileloc=str(details.fileloc) if details.fileloc else None,
            file_token=str(details.file_token) if details.file_token else None,
            last_parsed_time=details.last_parsed_time.isoformat() if details.last_parsed_time else None,
            is_paused=bool(details.is_paused),
            tags=tuple(sorted(tag.name for tag in details.tags or ())),
            params=dict(details.params or {}),
        )

    def dag_file(self, dag_id: str) -> str | None:
        """Where the deployment read the DAG from (its fileloc)."""
        details = self.dag_details(dag_id)
        return details.fileloc if details else None

    def dag_ids(self, tag: str) -> list[str]:
        """Every DAG id with this tag."""
        found: list[str] = []
        while True:
            dags = self._client.DAGApi(self._api).get_dags
            page = self._call("Listing DAGs", dags, tags=[tag], offset=len(found), limit=100)
            found += [str(dag.dag_id) for dag in page.dags]
            if not page.dags or len(found) >= page.total_entries:
                return found

    def reparse(self, file_token: str) -> None:
        """Ask the dag-processor to parse this DAG's file now, ahead of its folder scan."""
        self._call("Requesting a parse", self._client.DAGParsingApi(self._api).reparse_dag_file, file_token)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        body = self._client.DAGPatchBody(is_paused=paused)
        self._call(f"Pausing DAG {dag_id}", self._client.DAGApi(self._api).patch_dag, dag_id, body)

    def import_error(self, fileloc: str) -> str | None:
        """The stack trace of the deployment's import error for this file, if it has one."""
        answer = self._call("Reading import errors", self._client.ImportErrorApi(self._api).get_import_errors)
        for error in answer.import_errors:
            if error.filename and (fileloc.endswith(error.filename) or error.filename.endswith(fileloc)):
                return str(error.stack_trace)
        return None

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
