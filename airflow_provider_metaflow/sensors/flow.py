"""MetaflowFlowSensor: wait for a successful run of a Metaflow flow that may run anywhere.

The flow may run on Argo, on a laptop, or in another Airflow: the sensor only reads Metaflow's
metadata. It never imports Metaflow itself; each check is a short child process (see
`sensors.query`), in poke and reschedule mode from the worker, deferred from the triggerer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_metaflow.hooks.metaflow import MetaflowHook
from airflow_provider_metaflow.sensors.query import (
    MATCHED,
    NEVER,
    QueryAnswer,
    QueryFailed,
    RunQuery,
    execute_query,
)
from airflow_provider_metaflow.version_compat import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    get_airflow_conf,
)

XCOM_PATHSPEC_KEY = "pathspec"
WindowBound = datetime | timedelta | str | None


class MetaflowFlowSensor(BaseSensorOperator):
    """Wait until a flow has a successful run that matches; return its pathspec (``Flow/RunId``).

    The pathspec is the task's return value and is also pushed to XCom under ``pathspec``.
    Every filter given must hold:

    :param flow_name: the FlowSpec class name (also for @project flows).
    :param run_id: this run only (templated): a run id, or a pathspec such as the ``pathspec``
        XCom of a Metaflow task in this DAG.
    :param tags: Metaflow tags the run must all carry, user or system (templated).
    :param project: the @project name: the run carries ``project:<project>`` (templated).
    :param project_branch: the @project branch as Metaflow names it (``prod``, ``test.<name>``,
        ``user.<name>``, ``prod.<name>``): the run carries ``project_branch:<branch>`` (templated).
    :param namespace: a Metaflow namespace (``user:<name>``, ``production:<token>``, any tag);
        None, the default, is the global namespace (templated).
    :param finished_after: the run finished at or after this moment (templated). A ``timedelta``
        is relative to the DAG run's data interval start (to the run's logical date, or when it
        was triggered, if it has no data interval); a string is an ISO-8601 time such as
        ``"{{ data_interval_start }}"``; naive times are UTC.
    :param finished_before: the run finished at or before this moment (templated); a
        ``timedelta`` is relative to the data interval end. With a window, the sensor matches
        the run that finished last inside it, and fails once the window has closed (plus a few
        minutes for clock skew) with nothing matched. So ``finished_after=timedelta(0)`` waits
        for a run that finished during this DAG run's data interval or later.
    :param fail_on_failed_run: fail at once when the run (or, without ``run_id``, the newest
        candidate) has failed, instead of waiting for another run until the timeout. Failed
        means: its end task finished without success, or a task failed on the last attempt its
        step's @retry / @catch allow.
    :param metaflow_conn_id: the ``metaflow`` connection to read runs with; None for the
        worker's own Metaflow configuration.
    :param deferrable: wait in the triggerer instead of a worker slot (default: Airflow's
        ``[operators] default_deferrable``).

    Unknown flows, and runs that can never match, fail the task at once with a message that
    says why (or skip it with ``soft_fail``); anything else keeps waiting, with the reason logged.
    """

    template_fields: Sequence[str] = (
        "flow_name",
        "run_id",
        "tags",
        "project",
        "project_branch",
        "namespace",
        "finished_after",
        "finished_before",
    )
    ui_color = "#eaf4fc"

    def __init__(
        self,
        *,
        flow_name: str,
        run_id: str | None = None,
        tags: Sequence[str] = (),
        project: str | None = None,
        project_branch: str | None = None,
        namespace: str | None = None,
        finished_after: WindowBound = None,
        finished_before: WindowBound = None,
        fail_on_failed_run: bool = False,
        metaflow_conn_id: str | None = None,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.flow_name = flow_name
        self.run_id = run_id
        self.tags = list(tags) if not isinstance(tags, str) else [tags]
        self.project = project
        self.project_branch = project_branch
        self.namespace = namespace
        self.finished_after = finished_after
        self.finished_before = finished_before
        self.fail_on_failed_run = fail_on_failed_run
        self.metaflow_conn_id = metaflow_conn_id
        if deferrable is None:
            deferrable = get_airflow_conf().getboolean("operators", "default_deferrable", fallback=False)
        self.deferrable = deferrable

    def execute(self, context: Any) -> str:
        pathspec = self._wait_deferred(context) if self.deferrable else super().execute(context)
        context["ti"].xcom_push(key=XCOM_PATHSPEC_KEY, value=pathspec)
        return str(pathspec)

    def poke(self, context: Any) -> PokeReturnValue:
        return self._settle(self._ask(self.run_query(context)))

    def execute_complete(self, context: Any, event: dict[str, Any]) -> str:
        """Resume after the trigger fired."""
        status = event.get("status")
        reason = str(event.get("reason", ""))
        if status == MATCHED:
            pathspec = str(event["pathspec"])
            self.log.info("%s", reason)
            context["ti"].xcom_push(key=XCOM_PATHSPEC_KEY, value=pathspec)
            return pathspec
        if status == NEVER:
            self._never(reason)
        raise AirflowException(f"Checking for a run of {self.flow_name} failed: {reason}")

    def run_query(self, context: Any) -> RunQuery:
        """The rendered filters, with the window resolved against this DAG run."""
        start, end = _interval(context)
        tags = [self.tags] if isinstance(self.tags, str) else list(self.tags)
        if self.project:
            tags.append(f"project:{self.project}")
        if self.project_branch:
            tags.append(f"project_branch:{self.project_branch}")
        return RunQuery(
            flow=self.flow_name,
            run_id=self._run_id(),
            tags=tuple(str(tag) for tag in tags if tag),
            namespace=self.namespace or None,
            finished_after=_bound(self.finished_after, start, "finished_after"),
            finished_before=_bound(self.finished_before, end, "finished_before"),
            fail_on_failed_run=self.fail_on_failed_run,
        )

    def _run_id(self) -> str | None:
        """The run id, also when given as a pathspec (``Flow/RunId[/step/task]``)."""
        text = str(self.run_id or "").strip()
        if "/" not in text:
            return text or None
        flow, run_id = text.split("/")[:2]
        if flow != self.flow_name:
            raise AirflowFailException(
                f"run_id={text!r} is a pathspec of flow {flow!r}, but the sensor waits for "
                f"{self.flow_name!r}."
            )
        return run_id

    def _wait_deferred(self, context: Any) -> str:
        from airflow_provider_metaflow.triggers.flow import MetaflowFlowTrigger

        query = self.run_query(context)
        found = self._settle(self._ask(query))  # a run that already finished needs no deferral
        if found:
            return str(found.xcom_value)
        self.defer(
            trigger=MetaflowFlowTrigger(
                query=query.to_json(),
                metaflow_conn_id=self.metaflow_conn_id,
                poke_interval=self.poke_interval,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def _ask(self, query: RunQuery) -> QueryAnswer:
        environment = MetaflowHook(self.metaflow_conn_id).metaflow_environment()
        try:
            return execute_query(query, environment)
        except QueryFailed as exc:
            raise AirflowException(str(exc)) from exc

    def _settle(self, answer: QueryAnswer) -> PokeReturnValue:
        if answer.status == MATCHED:
            self.log.info("%s", answer.reason)
            return PokeReturnValue(is_done=True, xcom_value=answer.pathspec)
        if answer.status == NEVER:
            self._never(answer.reason)
        self.log.info("Waiting: %s", answer.reason)
        return PokeReturnValue(is_done=False)

    def _never(self, reason: str) -> NoReturn:
        message = f"No run of {self.flow_name} can match: {reason}"
        if self.soft_fail or getattr(self, "never_fail", False):
            raise AirflowSkipException(message)
        raise AirflowFailException(message)


def _interval(context: Any) -> tuple[datetime | None, datetime | None]:
    """What timedelta bounds are relative to: the data interval, else the run's own time."""
    dag_run = context.get("dag_run")
    fallback = context.get("logical_date") or getattr(dag_run, "run_after", None)
    return (
        context.get("data_interval_start") or fallback,
        context.get("data_interval_end") or fallback,
    )


def _bound(value: WindowBound, anchor: datetime | None, name: str) -> str | None:
    """One window bound as an aware ISO-8601 time, or None when open."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, timedelta):
        if anchor is None:
            raise AirflowFailException(
                f"{name} is a timedelta, relative to the DAG run's data interval, but this run has "
                "none. Give an absolute time or a template instead."
            )
        moment = anchor + value
    elif isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise AirflowFailException(
                f"{name}={value!r} is not an ISO-8601 time, like 2025-01-31T00:00:00+00:00."
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()
