"""One try of a Metaflow step operator: ids, attempt, inputs, the step process, its result.

Imported only when a task runs (never while a DAG file is parsed). Nothing here imports
Metaflow: the step process itself stores Parameters, saves logs and reports its transition
and foreach width (the extension's contract module), and what upstream tasks decided arrives through XCom
(operators.upstream).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_metaflow.backends.base import StepLaunch
from airflow_provider_metaflow.backends.local import LocalStepBackend, StepFailed
from airflow_provider_metaflow.backends.process import ProcessKilled
from airflow_provider_metaflow.operators.flow_run import locate_flow_run
from airflow_provider_metaflow.operators.run_triggers import (
    announce_run,
    event_parameter_values,
    upstream_runs,
)
from airflow_provider_metaflow.operators.upstream import XCOM_NEXT_STEPS_KEY, XCOM_PATHSPEC_KEY, Upstream
from airflow_provider_metaflow.runtime.attempts import AttemptPlan, AttemptsExhausted, plan_attempt
from airflow_provider_metaflow.runtime.command import (
    FlowCommand,
    StepInvocation,
    config_file_content,
    init_arguments,
    step_command,
)
from airflow_provider_metaflow.runtime.ids import (
    MAX_INLINE_INPUT_PATHS,
    PARAMETERS_TASK_ID,
    compress_input_paths,
    metaflow_task_id,
    task_pathspec,
)
from airflow_provider_metaflow.runtime.inputs import StepInputs, input_paths, run_relative, split_index_for
from airflow_provider_metaflow.version_compat import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
)
from metaflow_extensions.airflow_provider_metaflow.plugins import contract

if TYPE_CHECKING:
    from airflow_provider_metaflow.flow import MetaflowFlow
    from airflow_provider_metaflow.operators.kubernetes import MetaflowKubernetesOperator
    from airflow_provider_metaflow.operators.step import MetaflowStepOperator

DEFAULT_METAFLOW_USER = "airflow"


class StepTaskRun:
    """Everything one Airflow try needs to run its Metaflow task(s), resolved once."""

    def __init__(
        self,
        operator: MetaflowStepOperator | MetaflowKubernetesOperator,
        context: Any,
        need_flow_file: bool = True,
    ) -> None:
        self.operator = operator
        self.context = context
        self.log = operator.log
        self.flow = operator.flow
        self.ti = context["ti"]
        located = locate_flow_run(operator, self.flow, context, need_flow_file)
        self.flow_file, self.flow_dir, self.run_id = located.flow_file, located.flow_dir, located.run_id
        # Find Airflow runs with the client: Flow(...).runs("airflow_dag_id:...")
        self.tags = (*self.flow.tags, f"airflow_dag_id:{self.ti.dag_id}", f"airflow_run_id:{self.ti.run_id}")
        self.index_path = task_index_path(operator.split_index, operator.index_path)
        self.inputs = StepInputs(operator.inputs, operator.foreach, operator.join_of)
        self.upstream = Upstream(self.ti)
        self._backend: LocalStepBackend | None = None
        self._killed = False

    # --- what this task is --------------------------------------------------------------

    def pathspec(self, task_id: str) -> str:
        return f"{self.flow.name}/{self.run_id}/{self.operator.step}/{task_id}"

    def plan_attempt(self, attempt: int | None = None) -> AttemptPlan:
        try:
            return plan_attempt(self.ti.try_number, self.ti.max_tries, self.operator.error_retries, attempt)
        except AttemptsExhausted as exc:
            raise AirflowFailException(
                f"Step {self.operator.step!r}: {exc}. Metaflow ignores later attempts, so this task "
                f"cannot run again in run {self.run_id}. Resume the run instead: `python "
                f"{os.path.basename(self.flow.file)} resume --origin-run-id {self.run_id}`, or "
                "trigger a new DAG run."
            ) from None

    def input_paths(self) -> list[str]:
        """Input paths of this task; skips the task when a switch upstream did not choose it."""
        op = self.operator
        if not op.conditional:
            width = self._join_width() if op.join_of else 0
            return input_paths(self.run_id, self.inputs, self.index_path, width)
        if op.join_of:
            return self._conditional_join_inputs(op.join_of)
        paths = []
        if op.foreach in op.inputs:  # the foreach opening this body ran: we were mapped over it
            paths.append(task_pathspec(self.run_id, op.foreach, self.index_path[:-1]))
        others = [parent for parent in op.inputs if parent != op.foreach]
        paths += [run_relative(pathspec) for pathspec in self.upstream.chose(others, op.step)]
        if not paths:
            raise AirflowSkipException(
                f"Step {op.step!r} did not run in Metaflow run {self.run_id}: no parent chose it "
                "(a switch took another branch)."
            )
        return paths

    def _join_width(self) -> int:
        assert self.operator.join_of is not None
        try:
            return self.upstream.split_count(self.operator.join_of)
        except LookupError:
            if self.operator.conditional:
                raise AirflowSkipException(
                    f"Step {self.operator.step!r} did not run: foreach {self.operator.join_of!r} did not run."
                ) from None
            raise AirflowException(
                f"Step {self.operator.step!r}: foreach {self.operator.join_of!r} left no split list in "
                "XCom; clear it so it runs again."
            ) from None

    def _conditional_join_inputs(self, foreach: str) -> list[str]:
        """A foreach join after switch branches: per split, the branch that ran."""
        width = self._join_width()
        ran = self.upstream.children_that_ran(self.operator.inputs, self.index_path)
        if len(ran) != width:
            raise AirflowException(
                f"Step {self.operator.step!r} joins {width} splits of foreach {foreach!r}, but "
                f"{len(ran)} of its parents' tasks succeeded ({', '.join(self.operator.inputs)}). "
                "Clear the failed or missing tasks and this join."
            )
        return [run_relative(path) for path in ran]

    # --- one Metaflow task ----------------------------------------------------------------

    def launch(
        self,
        task_id: str,
        attempt: AttemptPlan,
        paths: Sequence[str],
        split_index: int | None,
        *,
        python: str,
        flow_file: str,
        files_dir: str,
    ) -> StepLaunch:
        """Metaflow's command line for one task, the variables it needs, and its small files
        (Parameters for `init`, Config values, a long input-path list), placed in files_dir."""
        files: dict[str, str] = {}
        compressed = compress_input_paths(paths)
        paths_file = None
        if len(compressed) > MAX_INLINE_INPUT_PATHS:
            files["input-paths"] = compressed
            paths_file = os.path.join(files_dir, "input-paths")
        config_file = None
        if self.flow.configs:
            files["configs.json"] = config_file_content(self.flow.configs)
            config_file = os.path.join(files_dir, "configs.json")
        pathspec = self.pathspec(task_id)
        ti = self.ti
        env = {
            contract.ENV_PATHSPEC: pathspec,
            contract.ENV_ATTEMPT: str(attempt.attempt),
            contract.ENV_AIRFLOW_TASK: f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{ti.map_index}/{ti.try_number}",
        }
        if not self.operator.inputs:  # the start step stores the run's Parameters first
            files["init.json"] = json.dumps(self._init_arguments())
            env[contract.ENV_INIT_ARGS_FILE] = os.path.join(files_dir, "init.json")
        flow_command = FlowCommand(
            python,
            flow_file,
            tuple(self.flow.configs),
            config_file,
            (*self.flow.top_level_options, *self._trigger_options),
            self.operator.decospecs,
        )
        invocation = StepInvocation(
            step=self.operator.step,
            run_id=self.run_id,
            task_id=task_id,
            input_paths=None if paths_file else compressed,
            input_paths_file=paths_file,
            split_index=split_index,
            retry_count=attempt.attempt,
            max_user_code_retries=attempt.max_user_code_retries,
            tags=self.tags,
            namespace=self.flow.namespace,
        )
        return StepLaunch(pathspec, attempt.attempt, step_command(flow_command, invocation), env, files)

    def run_task(
        self, task_id: str, attempt: AttemptPlan, paths: Sequence[str], split_index: int | None
    ) -> contract.TaskResult:
        """Run one Metaflow task as a local process and return what it reported."""
        with LocalStepBackend(self.worker_environment(), self.flow_dir) as backend:
            launch = self.launch(
                task_id,
                attempt,
                paths,
                split_index,
                python=self.flow.interpreter(),
                flow_file=self.flow_file,
                files_dir=backend.files_dir,
            )
            self.log.info("Metaflow task %s, attempt %d", launch.pathspec, attempt.attempt)
            self.log.info("Running %s", " ".join(launch.argv))  # Parameter values go to a file, not argv
            self._backend = backend
            if self._killed:
                backend.kill()
            try:
                return backend.run(launch, self._log_line)
            except ProcessKilled as stopped:
                raise AirflowException(f"Metaflow task {launch.pathspec} was stopped: {stopped}") from None
            except StepFailed as failed:
                raise AirflowException(str(failed)) from None
            finally:
                self._backend = None

    def _log_line(self, _stream: str, line: bytes) -> None:
        self.log.info("%s", line.decode(errors="replace"))

    def publish(self, result: contract.TaskResult) -> None:
        """Tell downstream tasks (and the UI link) which task ran and what it chose, and flows
        waiting for this one (the end step's Asset) which run finished."""
        self.ti.xcom_push(key=XCOM_PATHSPEC_KEY, value=result.pathspec)
        self.ti.xcom_push(key=XCOM_NEXT_STEPS_KEY, value=result.next_steps)
        announce_run(self.operator, self.context, result.pathspec)

    def kill(self) -> None:
        """Called from Airflow's SIGTERM handler: never blocks."""
        self._killed = True
        if self._backend is not None:
            self._backend.kill()

    @cached_property
    def _trigger_options(self) -> list[str]:
        """`--trigger PATHSPEC` for each upstream run that started this DAG run (read once per
        try: a recursive step launches many tasks)."""
        if not (self.flow.trigger_assets or self.flow.trigger_sensors):
            return []
        return [option for run in upstream_runs(self.flow, self.context) for option in ("--trigger", run)]

    def worker_environment(self) -> dict[str, str]:
        """The environment of a Metaflow process this task starts on the worker."""
        return metaflow_environment(
            self.flow, self.operator.metaflow_conn_id, self.operator.environment, self.operator.env
        )

    def _init_arguments(self) -> list[str]:
        params = {**(self.context.get("params") or {}), **event_parameter_values(self.flow, self.context)}
        values = self._parameter_values(params)
        self.log.info("Parameters of run %s: %s", self.run_id, ", ".join(values) or "none")
        return init_arguments(self.run_id, PARAMETERS_TASK_ID, values, self.tags)

    def _parameter_values(self, params: Mapping[str, Any]) -> dict[str, str]:
        """Values for `init`; a parameter left unset (None) keeps Metaflow's own default."""
        names = self.flow.parameters if self.flow.parameters is not None else list(params)
        json_names = set(self.flow.json_parameters)
        return {
            name: json.dumps(params[name]) if name in json_names else _cli_value(params[name])
            for name in names
            if params.get(name) is not None
        }


def run_step_inputs(task_run: StepTaskRun) -> tuple[list[str], AttemptPlan, int | None]:
    """An ordinary step's input paths (or a skip), attempt and split index."""
    paths = task_run.input_paths()
    return paths, task_run.plan_attempt(), split_index_for(task_run.inputs, task_run.index_path)


def run_step(task_run: StepTaskRun) -> contract.TaskResult:
    """One Airflow try of an ordinary step: one Metaflow task."""
    paths, attempt, split_index = run_step_inputs(task_run)
    result = task_run.run_task(metaflow_task_id(task_run.index_path), attempt, paths, split_index)
    task_run.publish(result)
    return result


def task_index_path(split_index: int | None, index_path: Sequence[int] | None) -> tuple[int, ...]:
    """The task's position in its enclosing foreaches, outermost first (empty outside any)."""
    if index_path is not None:
        return tuple(int(index) for index in index_path)
    return () if split_index is None else (int(split_index),)


def flow_identity(flow: MetaflowFlow) -> dict[str, str]:
    """Who the flow's steps run as: the deployer, as on Metaflow's other schedulers."""
    identity = {}
    if flow.user:
        identity["METAFLOW_USER"] = identity["METAFLOW_OWNER"] = flow.user
    if flow.production_token:
        identity["METAFLOW_PRODUCTION_TOKEN"] = flow.production_token
    return identity


def metaflow_environment(
    flow: MetaflowFlow, metaflow_conn_id: str | None = None, *overrides: Mapping[str, str]
) -> dict[str, str]:
    """The environment of a Metaflow process run for `flow` on this worker: the worker's own,
    the `metaflow` connection's configuration (the given one, else the flow's), the flow's
    identity, then overrides."""
    env = dict(os.environ)
    env.setdefault("METAFLOW_USER", DEFAULT_METAFLOW_USER)  # steps fail with "Unknown user"
    metaflow_conn_id = metaflow_conn_id or flow.metaflow_conn_id
    if metaflow_conn_id:
        from airflow_provider_metaflow.hooks.metaflow import MetaflowHook

        env.update(MetaflowHook(metaflow_conn_id).metaflow_environment())
    env.update(flow_identity(flow))
    for override in overrides:
        env.update(override)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _cli_value(value: Any) -> str:
    """A DAG param as Metaflow's CLI reads it: booleans as true/false, the rest as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
