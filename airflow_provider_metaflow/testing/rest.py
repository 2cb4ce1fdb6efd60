"""A small typed client for Airflow 3's public REST API (v2), for tests against real services.

Why: tests of the real-services tier drive Airflow as a user does (trigger, wait, clear, mark
failed, read logs and XCom) and should read like that, not like raw HTTP. The client returns
plain dataclasses and dicts; every non-2xx answer raises `AirflowApiError` with Airflow's own
message. It sends no credentials: the services run the simple auth manager with all users as
admins (see `services.py`).

    client = AirflowRestClient("http://127.0.0.1:PORT")
    run_id = client.trigger_dag_run("my_dag", conf={"alpha": 1})
    run = client.wait_for_dag_run("my_dag", run_id, timeout=120)
    tis = client.task_instances("my_dag", run_id)          # mapped ones too, one per map index
    text = client.task_log("my_dag", run_id, "train", try_number=1, map_index=0)
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

TERMINAL_RUN_STATES = frozenset({"success", "failed"})
_PAGE = 100


class AirflowApiError(RuntimeError):
    """A REST call answered with an error status."""

    def __init__(self, method: str, path: str, status: int, detail: Any) -> None:
        super().__init__(f"{method} {path} -> HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class DagRun:
    dag_id: str
    run_id: str
    state: str
    conf: dict[str, Any]
    start_date: datetime | None
    end_date: datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class TaskInstance:
    task_id: str
    map_index: int
    state: str | None
    try_number: int
    start_date: datetime | None
    end_date: datetime | None
    hostname: str | None
    pid: int | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class XComEntry:
    task_id: str
    map_index: int
    key: str
    value: Any


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _dag_run(data: Mapping[str, Any]) -> DagRun:
    return DagRun(
        dag_id=data["dag_id"],
        run_id=data["dag_run_id"],
        state=data["state"],
        conf=dict(data.get("conf") or {}),
        start_date=_when(data.get("start_date")),
        end_date=_when(data.get("end_date")),
        raw=data,
    )


def _task_instance(data: Mapping[str, Any]) -> TaskInstance:
    return TaskInstance(
        task_id=data["task_id"],
        map_index=data["map_index"],
        state=data.get("state"),
        try_number=data["try_number"],
        start_date=_when(data.get("start_date")),
        end_date=_when(data.get("end_date")),
        hostname=data.get("hostname"),
        pid=data.get("pid"),
        raw=data,
    )


def _path(*segments: str | int) -> str:
    """Quote each segment: run ids hold ':' and '+', which must reach Airflow unchanged."""
    return "/" + "/".join(quote(str(segment), safe="") for segment in segments)


def log_text(content: Iterable[Any]) -> str:
    """Airflow 3 returns a log as structured messages (or plain lines): render them as text."""
    lines: list[str] = []
    for message in content:
        if isinstance(message, str):
            lines.append(message)
            continue
        head = " ".join(str(message[key]) for key in ("timestamp", "level") if message.get(key))
        lines.append(f"{head} {message.get('event', '')}".strip())
        for error in message.get("error_detail") or ():  # rendered as Python prints a traceback
            lines.append("Traceback (most recent call last):")
            for frame in error.get("frames") or ():
                where = (
                    f'  File "{frame.get("filename")}", line {frame.get("lineno")}, in {frame.get("name")}'
                )
                lines.append(where)
            lines.append(f"{error.get('exc_type', '')}: {error.get('exc_value', '')}")
    return "\n".join(lines) + ("\n" if lines else "")


def fetch_token(base_url: str, username: str, password: str, timeout: float = 30.0) -> str:
    """An API token for a user of Airflow's auth manager (its /auth/token endpoint)."""
    response = httpx.post(
        f"{base_url.rstrip('/')}/auth/token",
        json={"username": username, "password": password},
        timeout=timeout,
    )
    if response.is_error:
        raise AirflowApiError("POST", "/auth/token", response.status_code, response.text)
    return str(response.json()["access_token"])


class AirflowRestClient:
    """Calls /api/v2 of one Airflow API server."""

    def __init__(self, base_url: str, timeout: float = 30.0, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=f"{self.base_url}/api/v2", timeout=timeout, headers=headers)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AirflowRestClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.is_error:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise AirflowApiError(method, path, response.status_code, detail)
        return response.json() if response.content else None

    # --- health and DAGs -------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """{component: {"status": "healthy" | "unhealthy" | None, ...}} from /monitor/health."""
        return dict(self._call("GET", "/monitor/health"))

    def get_dag(self, dag_id: str) -> dict[str, Any] | None:
        """The DAG as the API lists it, or None while Airflow does not know it yet."""
        try:
            return dict(self._call("GET", _path("dags", dag_id)))
        except AirflowApiError as error:
            if error.status == 404:
                return None
            raise

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self._call(
            "PATCH", _path("dags", dag_id), params={"update_mask": "is_paused"}, json={"is_paused": paused}
        )

    def import_errors(self) -> list[dict[str, Any]]:
        """Each DAG file that failed to load: filename and stack_trace."""
        return [dict(item) for item in self._paged("/importErrors", "import_errors")]

    # --- DAG runs -------------------------------------------------------------------------

    def trigger_dag_run(
        self, dag_id: str, conf: Mapping[str, Any] | None = None, run_id: str | None = None
    ) -> str:
        """Start a manual run (no logical date, as the UI's trigger does); returns its run id."""
        body: dict[str, Any] = {"logical_date": None, "conf": dict(conf or {})}
        if run_id is not None:
            body["dag_run_id"] = run_id
        data = self._call("POST", _path("dags", dag_id, "dagRuns"), json=body)
        return str(data["dag_run_id"])

    def dag_runs(self, dag_id: str) -> list[DagRun]:
        """Every run of a DAG, manual, scheduled or started by Assets."""
        return [_dag_run(item) for item in self._paged(_path("dags", dag_id, "dagRuns"), "dag_runs")]

    def create_asset_event(self, name: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Update the Asset of this name, as a producer task's outlet would (DAGs scheduled on it run)."""
        assets = self._call("GET", "/assets", params={"name_pattern": name})["assets"]
        (asset,) = [item for item in assets if item["name"] == name]
        return dict(
            self._call("POST", "/assets/events", json={"asset_id": asset["id"], "extra": dict(extra or {})})
        )

    def get_dag_run(self, dag_id: str, run_id: str) -> DagRun:
        return _dag_run(self._call("GET", _path("dags", dag_id, "dagRuns", run_id)))

    def wait_for_dag_run(
        self,
        dag_id: str,
        run_id: str,
        timeout: float = 300.0,
        states: Collection[str] = TERMINAL_RUN_STATES,
        poll: float = 0.5,
    ) -> DagRun:
        """Poll until the run reaches one of `states` (default: success or failed)."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_dag_run(dag_id, run_id)
            if run.state in states:
                return run
            if time.monotonic() > deadline:
                tasks = ", ".join(
                    f"{ti.task_id}[{ti.map_index}]={ti.state}" for ti in self.task_instances(dag_id, run_id)
                )
                raise TimeoutError(
                    f"DAG run {dag_id}/{run_id} still {run.state!r} after {timeout:.0f} s "
                    f"(waiting for {sorted(states)}); tasks: {tasks or 'none'}"
                )
            time.sleep(poll)

    # --- task instances -------------------------------------------------------------------

    def task_instances(self, dag_id: str, run_id: str, task_id: str | None = None) -> list[TaskInstance]:
        """Every task instance of the run, one per map index for mapped tasks, sorted."""
        params = {"task_id": task_id} if task_id else {}
        path = _path("dags", dag_id, "dagRuns", run_id, "taskInstances")
        items = [_task_instance(item) for item in self._paged(path, "task_instances", params)]
        return sorted(items, key=lambda ti: (ti.task_id, ti.map_index))

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> TaskInstance:
        segments: list[str | int] = ["dags", dag_id, "dagRuns", run_id, "taskInstances", task_id]
        if map_index >= 0:
            segments.append(map_index)
        return _task_instance(self._call("GET", _path(*segments)))

    def wait_for_task_instance(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: Collection[str],
        map_index: int = -1,
        timeout: float = 120.0,
        poll: float = 0.5,
    ) -> TaskInstance:
        """Poll until the task instance is in one of `states` (it may not exist yet at first)."""
        deadline = time.monotonic() + timeout
        last: TaskInstance | None = None
        while True:
            try:
                last = self.task_instance(dag_id, run_id, task_id, map_index)
                if last.state in states:
                    return last
            except AirflowApiError as error:
                if error.status != 404:
                    raise
            if time.monotonic() > deadline:
                seen = last.state if last else "no such task instance"
                raise TimeoutError(
                    f"task {dag_id}/{run_id}/{task_id}[{map_index}] is {seen!r} after {timeout:.0f} s "
                    f"(waiting for {sorted(states)})"
                )
            time.sleep(poll)

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        """The whole log of one try, as text (structured messages rendered line by line)."""
        path = _path("dags", dag_id, "dagRuns", run_id, "taskInstances", task_id, "logs", try_number)
        params: dict[str, Any] = {"map_index": map_index, "full_content": True}
        headers = {"Accept": "application/json"}
        data = self._call("GET", path, params=params, headers=headers)
        return log_text(data.get("content") or ())

    def clear_task_instances(
        self,
        dag_id: str,
        run_id: str,
        task_ids: Iterable[str | tuple[str, int]],
        include_downstream: bool = True,
        only_failed: bool = False,
        reset_dag_runs: bool = True,
        dry_run: bool = False,
    ) -> list[TaskInstance]:
        """Clear tasks of one run so the scheduler runs them again (as the UI's Clear does)."""
        body = {
            "dag_run_id": run_id,
            "task_ids": [list(item) if isinstance(item, tuple) else item for item in task_ids],
            "include_downstream": include_downstream,
            "only_failed": only_failed,
            "reset_dag_runs": reset_dag_runs,
            "dry_run": dry_run,
        }
        data = self._call("POST", _path("dags", dag_id, "clearTaskInstances"), json=body)
        return [_task_instance(item) for item in data["task_instances"]]

    def set_task_instance_state(
        self, dag_id: str, run_id: str, task_id: str, state: str, map_index: int = -1
    ) -> list[TaskInstance]:
        """Set a task instance to success, failed or skipped (a running task is then stopped)."""
        segments: list[str | int] = ["dags", dag_id, "dagRuns", run_id, "taskInstances", task_id]
        if map_index >= 0:
            segments.append(map_index)
        data = self._call("PATCH", _path(*segments), json={"new_state": state})
        return [_task_instance(item) for item in data["task_instances"]]

    def mark_failed(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[TaskInstance]:
        return self.set_task_instance_state(dag_id, run_id, task_id, "failed", map_index)

    # --- XCom -----------------------------------------------------------------------------

    def xcom_value(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        """One XCom value as stored (JSON-native values come back as themselves)."""
        path = _path("dags", dag_id, "dagRuns", run_id, "taskInstances", task_id, "xcomEntries", key)
        return self._call("GET", path, params={"map_index": map_index})["value"]

    def xcom_entries(
        self, dag_id: str, run_id: str, task_id: str, map_index: int | None = None
    ) -> list[XComEntry]:
        """Every XCom a task instance (or every map index of a mapped task) pushed, with values."""
        params = {} if map_index is None else {"map_index": map_index}
        path = _path("dags", dag_id, "dagRuns", run_id, "taskInstances", task_id, "xcomEntries")
        entries = []
        for item in self._paged(path, "xcom_entries", params):
            value = self.xcom_value(dag_id, run_id, task_id, item["key"], item["map_index"])
            entries.append(XComEntry(task_id, item["map_index"], item["key"], value))
        return sorted(entries, key=lambda entry: (entry.map_index, entry.key))

    def _paged(self, path: str, items_key: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        items: list[Any] = []
        while True:
            page = self._call("GET", path, params={**(params or {}), "limit": _PAGE, "offset": len(items)})
            batch = list(page[items_key])
            items.extend(batch)
            if not batch or len(items) >= (page.get("total_entries") or 0):
                return items
