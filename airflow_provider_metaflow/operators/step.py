"""MetaflowStepOperator: one Airflow task runs one Metaflow task, with Metaflow's own CLI."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_metaflow.backends.local import LocalProcess
from airflow_provider_metaflow.flow import MetaflowFlow
from airflow_provider_metaflow.runtime import datastore
from airflow_provider_metaflow.runtime.attempts import AttemptPlan, AttemptsExhausted, plan_attempt
from airflow_provider_metaflow.runtime.command import StepInvocation, init_command, step_command
from airflow_provider_metaflow.runtime.ids import (
    MAX_INLINE_INPUT_PATHS,
    PARAMETERS_STEP,
    PARAMETERS_TASK_ID,
    metaflow_run_id,
    metaflow_task_id,
)
from airflow_provider_metaflow.runtime.inputs import StepInputs, input_paths, split_index_for
from airflow_provider_metaflow.runtime.settings import MetaflowSettings, resolve_settings

XCOM_PATHSPEC_KEY = "pathspec"
DEFAULT_METAFLOW_USER = "airflow"


class MetaflowStepOperator(BaseOperator):
    """Run one Metaflow step of one run as a local child process.

    The Metaflow run id is derived from (dag_id, Airflow run_id) and the task id from the map
    index, so parents' input paths need no XCom, and a retry is a new attempt of the same task.
    The task's pathspec is pushed to XCom under the key ``pathspec``.

    :param flow: the flow the step belongs to.
    :param step: the Metaflow step name.
    :param inputs: the parent steps (empty for ``start``).
    :param foreach: for steps inside a foreach body, the foreach step whose list is mapped over.
    :param join_of: for the join that closes a foreach, that foreach step.
    :param split_index: the position in the foreach list (mapped with ``.expand``).
    :param env: extra environment variables for the step process.
    :param error_retries: tries kept at the end of each retry cycle for Metaflow's fallback
        attempt (1 with ``@catch``); they run no user code.
    """

    template_fields: Sequence[str] = ("env",)
    ui_color = "#eaf4fc"

    def __init__(
        self,
        *,
        flow: MetaflowFlow,
        step: str,
        inputs: Sequence[str] = (),
        foreach: str | None = None,
        join_of: str | None = None,
        split_index: int | None = None,
        env: Mapping[str, str] | None = None,
        error_retries: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.flow = flow
        self.step = step
        self.inputs = tuple(inputs)
        self.foreach = foreach
        self.join_of = join_of
        self.split_index = split_index
        self.env = dict(env or {})
        self.error_retries = error_retries
        self._process: LocalProcess | None = None

    # -- what this task is -------------------------------------------------------------------

    def _index_path(self) -> tuple[int, ...]:
        return () if self.split_index is None else (int(self.split_index),)

    def _flow_file(self) -> str:
        dag = self.get_dag()
        return self.flow.resolve_file(dag.fileloc if dag is not None else None)

    def _attempt(self, context: Mapping[str, Any], run_id: str) -> AttemptPlan:
        ti = context["ti"]
        try:
            return plan_attempt(ti.try_number, ti.max_tries, self.error_retries)
        except AttemptsExhausted as exc:
            raise AirflowFailException(
                f"Step {self.step!r}: {exc}. Metaflow ignores later attempts, so this task cannot "
                f"run again in run {run_id}. Resume the run instead: `python "
                f"{os.path.basename(self.flow.file)} resume --origin-run-id {run_id}`, or trigger "
                "a new DAG run."
            ) from None

    # -- running ------------------------------------------------------------------------------

    def execute(self, context: Any) -> Any:
        flow_file = self._flow_file()
        if not os.path.isfile(flow_file):
            raise AirflowFailException(
                f"Step {self.step!r}: flow file {flow_file} does not exist. MetaflowFlow(file=...) "
                "is relative to the DAG file's folder; deploy the flow next to the DAG."
            )
        settings = resolve_settings(os.path.dirname(flow_file))
        run_id = metaflow_run_id(context["ti"].dag_id, context["ti"].run_id)
        attempt = self._attempt(context, run_id)
        index_path = self._index_path()
        task_id = metaflow_task_id(index_path)
        env = self._child_env(settings)
        if not self.inputs:
            self._init_parameters(context, settings, flow_file, run_id, env)

        with tempfile.TemporaryDirectory(prefix="metaflow-inputs-") as scratch:
            invocation = self._invocation(settings, run_id, task_id, index_path, attempt, scratch)
            argv = step_command(self.flow.interpreter(), flow_file, settings, invocation)
            self.log.info("Metaflow task %s/%s/%s/%s, attempt %d", self.flow.name, run_id,
                          self.step, task_id, attempt.attempt)
            returncode = self._run_logged(argv, env, flow_file, settings, run_id, task_id, attempt)
        pathspec = f"{self.flow.name}/{run_id}/{self.step}/{task_id}"
        if returncode != 0:
            raise AirflowException(
                f"Metaflow task {pathspec} (attempt {attempt.attempt}) failed with exit code "
                f"{returncode}; its output is above and in Task('{pathspec}').stderr."
            )
        context["ti"].xcom_push(key=XCOM_PATHSPEC_KEY, value=pathspec)
        return self._result(settings, run_id, task_id, attempt)

    def _result(self, settings: MetaflowSettings, run_id: str, task_id: str, attempt: AttemptPlan) -> Any:
        """What the task returns to XCom; the foreach operator returns its split list."""
        return None

    def _invocation(
        self,
        settings: MetaflowSettings,
        run_id: str,
        task_id: str,
        index_path: tuple[int, ...],
        attempt: AttemptPlan,
        scratch: str,
    ) -> StepInvocation:
        step_inputs = StepInputs(self.inputs, self.foreach, self.join_of)

        def num_splits(foreach_step: str, foreach_index_path: Sequence[int]) -> int:
            return datastore.foreach_num_splits(
                settings, self.flow.name, run_id, foreach_step,
                metaflow_task_id(foreach_index_path), attempt=None,
            )

        paths = input_paths(run_id, step_inputs, index_path, num_splits)
        paths_file = None
        if len(paths) > MAX_INLINE_INPUT_PATHS:
            paths_file = os.path.join(scratch, "input-paths")
            with open(paths_file, "w") as handle:
                handle.write(paths)
        return StepInvocation(
            step=self.step,
            run_id=run_id,
            task_id=task_id,
            input_paths=None if paths_file else paths,
            input_paths_file=paths_file,
            split_index=split_index_for(step_inputs, index_path),
            retry_count=attempt.attempt,
            max_user_code_retries=attempt.max_user_code_retries,
            tags=tuple(self.flow.tags),
            namespace=self.flow.namespace,
        )

    def _child_env(self, settings: MetaflowSettings) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("METAFLOW_USER", DEFAULT_METAFLOW_USER)  # steps fail with "Unknown user"
        env.update(settings.child_environment())
        env.update(self.env)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _init_parameters(
        self,
        context: Any,
        settings: MetaflowSettings,
        flow_file: str,
        run_id: str,
        env: Mapping[str, str],
    ) -> None:
        """Persist the run's Parameters once: a retried or cleared start must not redo it."""
        if datastore.task_is_done(settings, self.flow.name, run_id, PARAMETERS_STEP, PARAMETERS_TASK_ID):
            self.log.info("Parameters of run %s were already stored; not running init again.", run_id)
            return
        values = self._parameter_values(context.get("params") or {})
        argv = init_command(
            self.flow.interpreter(), flow_file, settings, run_id, PARAMETERS_TASK_ID, values,
            tags=tuple(self.flow.tags),
        )
        self.log.info("Storing Parameters of run %s: %s", run_id, ", ".join(values) or "none")
        process = LocalProcess(argv, env, os.path.dirname(flow_file))
        self._process = process
        lines: list[str] = []
        returncode = process.run(lambda _stream, line: lines.append(line.decode(errors="replace")))
        if returncode != 0:
            raise AirflowException(
                f"Storing the Parameters of run {run_id} failed (metaflow init exit code "
                f"{returncode}):\n" + "\n".join(lines)
            )

    def _parameter_values(self, params: Mapping[str, Any]) -> dict[str, str]:
        names = self.flow.parameters if self.flow.parameters is not None else list(params)
        return {name: _cli_value(params[name]) for name in names if name in params}

    def _run_logged(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        flow_file: str,
        settings: MetaflowSettings,
        run_id: str,
        task_id: str,
        attempt: AttemptPlan,
    ) -> int:
        """Stream output to the Airflow log and keep it for Metaflow's own log store."""
        captured: dict[str, list[bytes]] = {"stdout": [], "stderr": []}

        def sink(stream: str, line: bytes) -> None:
            self.log.info("%s", line.decode(errors="replace"))
            captured[stream].append(datastore.format_log_line(line) + b"\n")

        process = LocalProcess(argv, env, os.path.dirname(flow_file))
        self._process = process
        try:
            return process.run(sink)
        finally:
            datastore.save_task_logs(
                settings, self.flow.name, run_id, self.step, task_id, attempt.attempt,
                {stream: b"".join(lines) for stream, lines in captured.items()},
            )

    def on_kill(self) -> None:
        if self._process is not None:
            self._process.terminate()


def _cli_value(value: Any) -> str:
    """A DAG param as Metaflow's CLI reads it: booleans as true/false, the rest as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
