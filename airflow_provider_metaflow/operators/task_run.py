"""One try of a Metaflow step operator: ids, attempt, Parameters, the step process, its logs.

Imported only when a task runs (never while a DAG file is parsed); Metaflow itself is
imported further down, by the runtime modules, only when needed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_metaflow.backends.local import LocalProcess
from airflow_provider_metaflow.operators.flow_run import locate_flow_run
from airflow_provider_metaflow.runtime import datastore
from airflow_provider_metaflow.runtime.attempts import AttemptPlan, AttemptsExhausted, plan_attempt
from airflow_provider_metaflow.runtime.command import (
    FlowCommand,
    StepInvocation,
    config_file_content,
    init_command,
    step_command,
)
from airflow_provider_metaflow.runtime.ids import (
    MAX_INLINE_INPUT_PATHS,
    PARAMETERS_STEP,
    PARAMETERS_TASK_ID,
    metaflow_task_id,
)
from airflow_provider_metaflow.runtime.inputs import (
    StepInputs,
    input_paths,
    parent_index_path,
    split_index_for,
)
from airflow_provider_metaflow.runtime.settings import MetaflowSettings
from airflow_provider_metaflow.version_compat import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
)

if TYPE_CHECKING:
    from airflow_provider_metaflow.flow import MetaflowFlow
    from airflow_provider_metaflow.operators.step import MetaflowStepOperator

XCOM_PATHSPEC_KEY = "pathspec"
DEFAULT_METAFLOW_USER = "airflow"


class StepTaskRun:
    """Everything one Airflow try needs to run its Metaflow task, resolved once."""

    def __init__(self, operator: MetaflowStepOperator, context: Any) -> None:
        self.operator = operator
        self.context = context
        self.log = operator.log
        self.flow = operator.flow
        ti = context["ti"]
        located = locate_flow_run(operator, self.flow, context)
        self.flow_file, self.flow_dir = located.flow_file, located.flow_dir
        self.settings, self.run_id = located.settings, located.run_id
        # Find Airflow runs with the client: Flow(...).runs("airflow_dag_id:...")
        self.tags = (*self.flow.tags, f"airflow_dag_id:{ti.dag_id}", f"airflow_run_id:{ti.run_id}")
        self.index_path = task_index_path(operator.split_index, operator.index_path)
        self.task_id = metaflow_task_id(self.index_path)
        self.pathspec = f"{self.flow.name}/{self.run_id}/{operator.step}/{self.task_id}"
        self.attempt = self._plan_attempt(ti.try_number, ti.max_tries)
        self._process: LocalProcess | None = None

    def _plan_attempt(self, try_number: int, max_tries: int) -> AttemptPlan:
        try:
            return plan_attempt(try_number, max_tries, self.operator.error_retries)
        except AttemptsExhausted as exc:
            raise AirflowFailException(
                f"Step {self.operator.step!r}: {exc}. Metaflow ignores later attempts, so this task "
                f"cannot run again in run {self.run_id}. Resume the run instead: `python "
                f"{os.path.basename(self.flow.file)} resume --origin-run-id {self.run_id}`, or "
                "trigger a new DAG run."
            ) from None

    def run(self) -> None:
        op = self.operator
        self.inputs = StepInputs(op.inputs, op.foreach, op.join_of)
        if op.conditional:
            self.inputs = self._inputs_that_ran(self.inputs)
        env = self._child_env()
        with tempfile.TemporaryDirectory(prefix="metaflow-task-") as scratch:
            flow_command = self._flow_command(scratch)
            if not self.operator.inputs:
                self._init_parameters(flow_command, env)
            argv = step_command(flow_command, self._invocation(scratch))
            self.log.info("Metaflow task %s, attempt %d", self.pathspec, self.attempt.attempt)
            self.log.info("Running %s", " ".join(argv))  # no Parameter values: those go to init
            returncode = self._run_logged(argv, env)
        if returncode != 0:
            raise AirflowException(
                f"Metaflow task {self.pathspec} (attempt {self.attempt.attempt}) failed with exit "
                f"code {returncode}; its output is above and in Task('{self.pathspec}').stderr."
            )
        self.context["ti"].xcom_push(key=XCOM_PATHSPEC_KEY, value=self.pathspec)

    def _flow_command(self, scratch: str) -> FlowCommand:
        config_file = None
        if self.flow.configs:
            config_file = os.path.join(scratch, "configs.json")
            with open(config_file, "w", encoding="utf-8") as handle:
                handle.write(config_file_content(self.flow.configs))
        return FlowCommand(
            self.flow.interpreter(),
            self.flow_file,
            self.settings,
            tuple(self.flow.configs),
            config_file,
            tuple(self.flow.top_level_options),
        )

    def kill(self) -> None:
        if self._process is not None:
            self._process.terminate()

    def _inputs_that_ran(self, inputs: StepInputs) -> StepInputs:
        """After a switch: keep the parents that ran and chose this step; skip if there are none."""
        step = self.operator.step
        if inputs.join_of is not None:
            foreach_task = metaflow_task_id(self.index_path)
            if (
                datastore.next_steps(self.settings, self.flow.name, self.run_id, inputs.join_of, foreach_task)
                is None
            ):
                raise AirflowSkipException(
                    f"Step {step!r} did not run: foreach {inputs.join_of!r} did not run."
                )
            return inputs
        chosen_by = tuple(
            parent
            for parent in inputs.parents
            if step
            in (
                datastore.next_steps(
                    self.settings,
                    self.flow.name,
                    self.run_id,
                    parent,
                    metaflow_task_id(parent_index_path(inputs, parent, self.index_path)),
                )
                or ()
            )
        )
        if not chosen_by:
            raise AirflowSkipException(
                f"Step {step!r} did not run in Metaflow run {self.run_id}: no parent chose it "
                "(a switch took another branch)."
            )
        return dataclasses.replace(inputs, parents=chosen_by)

    def _invocation(self, scratch: str) -> StepInvocation:
        op = self.operator
        step_inputs = self.inputs

        def num_splits(foreach_step: str, foreach_index_path: Sequence[int]) -> int:
            return datastore.foreach_num_splits(
                self.settings,
                self.flow.name,
                self.run_id,
                foreach_step,
                metaflow_task_id(foreach_index_path),
                attempt=None,
            )

        paths = input_paths(self.run_id, step_inputs, self.index_path, num_splits)
        paths_file = None
        if len(paths) > MAX_INLINE_INPUT_PATHS:
            paths_file = os.path.join(scratch, "input-paths")
            with open(paths_file, "w") as handle:
                handle.write(paths)
        return StepInvocation(
            step=op.step,
            run_id=self.run_id,
            task_id=self.task_id,
            input_paths=None if paths_file else paths,
            input_paths_file=paths_file,
            split_index=split_index_for(step_inputs, self.index_path),
            retry_count=self.attempt.attempt,
            max_user_code_retries=self.attempt.max_user_code_retries,
            tags=self.tags,
            namespace=self.flow.namespace,
        )

    def _child_env(self) -> dict[str, str]:
        return metaflow_environment(self.flow, self.settings, self.operator.environment, self.operator.env)

    def _init_parameters(self, flow_command: FlowCommand, env: Mapping[str, str]) -> None:
        """Persist the run's Parameters once: a retried or cleared start must not redo it."""
        if datastore.task_is_done(
            self.settings, self.flow.name, self.run_id, PARAMETERS_STEP, PARAMETERS_TASK_ID
        ):
            self.log.info("Parameters of run %s were already stored; not running init again.", self.run_id)
            return
        values = self._parameter_values(self.context.get("params") or {})
        argv = init_command(
            flow_command,
            self.run_id,
            PARAMETERS_TASK_ID,
            values,
            tags=self.tags,
        )
        self.log.info("Storing Parameters of run %s: %s", self.run_id, ", ".join(values) or "none")
        lines: list[str] = []
        self._process = LocalProcess(argv, env, self.flow_dir)
        returncode = self._process.run(lambda _stream, line: lines.append(line.decode(errors="replace")))
        if returncode != 0:
            raise AirflowException(
                f"Storing the Parameters of run {self.run_id} failed (metaflow init exit code "
                f"{returncode}):\n" + "\n".join(lines)
            )

    def _parameter_values(self, params: Mapping[str, Any]) -> dict[str, str]:
        """Values for `init`; a parameter left unset (None) keeps Metaflow's own default."""
        names = self.flow.parameters if self.flow.parameters is not None else list(params)
        json_names = set(self.flow.json_parameters)
        return {
            name: json.dumps(params[name]) if name in json_names else _cli_value(params[name])
            for name in names
            if params.get(name) is not None
        }

    def _run_logged(self, argv: Sequence[str], env: Mapping[str, str]) -> int:
        """Stream output to the Airflow log and keep it for Metaflow's own log store."""
        captured: dict[str, list[bytes]] = {"stdout": [], "stderr": []}

        def sink(stream: str, line: bytes) -> None:
            self.log.info("%s", line.decode(errors="replace"))
            captured[stream].append(datastore.format_log_line(line) + b"\n")

        self._process = LocalProcess(argv, env, self.flow_dir)
        try:
            return self._process.run(sink)
        finally:
            self._save_logs({stream: b"".join(lines) for stream, lines in captured.items()})

    def _save_logs(self, streams: Mapping[str, bytes]) -> None:
        """Like Metaflow's own log upload, a failure here is reported but does not fail the task."""
        try:
            datastore.save_task_logs(
                self.settings,
                self.flow.name,
                self.run_id,
                self.operator.step,
                self.task_id,
                self.attempt.attempt,
                streams,
            )
        except Exception as error:  # noqa: BLE001 - logs are best effort, the step's result is not
            self.log.warning(
                "Could not store the output of %s in Metaflow's task logs: %s", self.pathspec, error
            )


def task_index_path(split_index: int | None, index_path: Sequence[int] | None) -> tuple[int, ...]:
    """The task's position in its enclosing foreaches, outermost first (empty outside any)."""
    if index_path is not None:
        return tuple(int(index) for index in index_path)
    return () if split_index is None else (int(split_index),)


def metaflow_environment(
    flow: MetaflowFlow, settings: MetaflowSettings, *overrides: Mapping[str, str]
) -> dict[str, str]:
    """The environment of a Metaflow command run for `flow` on this worker."""
    env = dict(os.environ)
    env.setdefault("METAFLOW_USER", DEFAULT_METAFLOW_USER)  # steps fail with "Unknown user"
    if flow.user:  # the deployer, as Metaflow's other schedulers run steps
        env["METAFLOW_USER"] = env["METAFLOW_OWNER"] = flow.user
    if flow.production_token:
        env["METAFLOW_PRODUCTION_TOKEN"] = flow.production_token
    for name, value in settings.child_environment().items():
        env.setdefault(name, value)
    for override in overrides:
        env.update(override)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _cli_value(value: Any) -> str:
    """A DAG param as Metaflow's CLI reads it: booleans as true/false, the rest as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
