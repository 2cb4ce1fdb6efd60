"""The per-try engine: one Airflow try of a Metaflow step operator.

It resolves the try once (the flow file, the Metaflow run, the task's index path), works out
each Metaflow task's inputs and attempt, describes the task as a StepLaunch and hands it to the
StepBackend the step's plan names (`backends.registry`), then passes the result on through
XCom. It knows operators only through `StepArguments` and backends only through `StepBackend`.

Imported only when a task runs, never while a DAG file is parsed. Nothing here imports
Metaflow: the step process itself stores Parameters, saves logs and reports its transition and
foreach width (the extension's contract module); what upstream tasks decided arrives through
XCom (execution.upstream).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property, partial
from typing import Any, Protocol

from airflow_provider_metaflow.backends.base import StepBackend, StepFailed, StepLaunch, StepStopped
from airflow_provider_metaflow.backends.registry import backend_entry, load_backend
from airflow_provider_metaflow.execution import xcom_artifacts as xcom
from airflow_provider_metaflow.execution.dag_wiring import dag_wiring
from airflow_provider_metaflow.execution.environment import (
    flow_identity,
    flow_secrets,
    metaflow_environment,
)
from airflow_provider_metaflow.execution.flow_run import locate_flow_run
from airflow_provider_metaflow.execution.parameters import run_parameters
from airflow_provider_metaflow.execution.resume import origin_task_to_clone, resume_request
from airflow_provider_metaflow.execution.run_triggers import announce_run, upstream_runs
from airflow_provider_metaflow.execution.upstream import XCOM_NEXT_STEPS_KEY, XCOM_PATHSPEC_KEY, Upstream
from airflow_provider_metaflow.flow import MetaflowFlow
from airflow_provider_metaflow.runtime.attempts import AttemptPlan, AttemptsExhausted, plan_attempt
from airflow_provider_metaflow.runtime.command import (
    FlowCommand,
    StepInvocation,
    config_file_content,
    step_command,
)
from airflow_provider_metaflow.runtime.ids import (
    MAX_INLINE_INPUT_PATHS,
    compress_input_paths,
    metaflow_task_id,
    task_pathspec,
)
from airflow_provider_metaflow.runtime.inputs import StepInputs, input_paths, run_relative, split_index_for
from airflow_provider_metaflow.task_group import flow_group_of, step_task_id
from airflow_provider_metaflow.version_compat import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    check_map_length,
)
from metaflow_extensions.airflow_provider_metaflow.plugins import contract


class StepArguments(Protocol):
    """What the engine reads from a step operator: the arguments every Metaflow step operator
    shares (operators.base.MetaflowStepBase), and what Airflow gives every operator."""

    task_id: str
    flow: MetaflowFlow
    step: str
    inputs: tuple[str, ...]
    foreach: str | None
    join_of: str | None
    split_index: int | None
    index_path: Sequence[int] | None
    conditional: bool
    parameters: dict[str, Any]
    env: dict[str, str]
    environment: dict[str, str]
    error_retries: int
    decospecs: tuple[str, ...]
    metaflow_conn_id: str | None
    backend: str
    xcom_artifacts: tuple[str, ...]
    xcom_artifact_max_bytes: int | None

    @property
    def log(self) -> Any: ...

    def get_dag(self) -> Any: ...


class StepTry:
    """Everything one Airflow try needs to run its Metaflow task(s), resolved once. It is the
    TrySite its backend is built from."""

    def __init__(self, operator: StepArguments, context: Any) -> None:
        self.operator = operator
        self.context = context
        self.log = operator.log
        self.flow = operator.flow
        self.ti = context["ti"]
        on_worker = backend_entry(operator.backend).flow_file_on_worker
        located = locate_flow_run(operator, self.flow, context, need_flow_file=on_worker)
        self.flow_file, self.flow_dir, self.run_id = located.flow_file, located.flow_dir, located.run_id
        # Find Airflow runs with the client: Flow(...).runs("airflow_dag_id:...")
        self.tags = (*self.flow.tags, f"airflow_dag_id:{self.ti.dag_id}", f"airflow_run_id:{self.ti.run_id}")
        self.index_path = task_index_path(operator.split_index, operator.index_path)
        self.inputs = StepInputs(operator.inputs, operator.foreach, operator.join_of)
        self.upstream = Upstream(self.ti, partial(step_task_id, operator))
        self.xcom_artifacts = xcom.request(operator.xcom_artifacts, operator.xcom_artifact_max_bytes)
        # A resume names the run it resumes in the DAG run's conf; a TaskGroup's flow is not resumed.
        self.resume = resume_request(context) if flow_group_of(operator) is None else None
        self._backend: StepBackend | None = None
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

    @property
    def backend(self) -> StepBackend:
        """The backend the step's plan names, built on first use and closed by close()."""
        if self._backend is None:
            self._backend = load_backend(self.operator.backend)(self)
            if self._killed:
                self._backend.kill()
        return self._backend

    def launch(
        self,
        task_id: str,
        attempt: AttemptPlan,
        paths: Sequence[str],
        split_index: int | None,
        clone_of: str | None = None,
    ) -> StepLaunch:
        """Metaflow's command line for one task, the variables it needs, and its small files
        (Parameters for `init`, Config values, a long input-path list), as the backend's host
        names them. `clone_of`: the origin task (RUN/step/task) a resume clones this one from."""
        host = self.backend.host
        files: dict[str, str] = {}
        compressed = compress_input_paths(paths)
        paths_file = None
        if len(compressed) > MAX_INLINE_INPUT_PATHS:
            files["input-paths"] = compressed
            paths_file = os.path.join(host.files_dir, "input-paths")
        config_file = None
        if self.flow.configs:
            files["configs.json"] = config_file_content(self.flow.configs)
            config_file = os.path.join(host.files_dir, "configs.json")
        pathspec = self.pathspec(task_id)
        ti = self.ti
        env = {
            **flow_identity(self.flow),
            **self.operator.environment,
            contract.ENV_PATHSPEC: pathspec,
            contract.ENV_ATTEMPT: str(attempt.attempt),
            contract.ENV_AIRFLOW_TASK: f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{ti.map_index}/{ti.try_number}",
        }
        if not self.operator.inputs:  # the start step checks the DAG, then stores the run's Parameters
            files["dag-wiring.json"] = dag_wiring(self.operator).to_json()
            env[contract.ENV_DAG_WIRING_FILE] = os.path.join(host.files_dir, "dag-wiring.json")
            parameters = run_parameters(
                self.flow,
                self.context,
                self.run_id,
                self.tags,
                self.operator.parameters,
                in_group=flow_group_of(self.operator) is not None,
            )
            self.log.info("Parameters of run %s: %s", self.run_id, ", ".join(parameters.values) or "none")
            files["parameters.json"] = parameters.to_json()
            env[contract.ENV_RUN_PARAMETERS_FILE] = os.path.join(host.files_dir, "parameters.json")
        if self.xcom_artifacts is not None:
            env[contract.ENV_XCOM_ARTIFACTS] = self.xcom_artifacts.to_json()
        if clone_of is not None:
            env[contract.ENV_CLONE] = clone_of
        flow_command = FlowCommand(
            host.python,
            host.flow_file,
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
            clone_run_id=self.resume.origin_run_id if self.resume else None,
            clone_only=clone_of,
        )
        argv = step_command(flow_command, invocation)
        # The DAG's own `env` may be templated from Airflow Variables: kept with the secrets.
        secret_env = {**flow_secrets(self.flow), **self.operator.env}
        return StepLaunch(pathspec, attempt.attempt, argv, env, files, secret_env)

    def run_task(
        self, task_id: str, attempt: AttemptPlan, paths: Sequence[str], split_index: int | None
    ) -> contract.TaskResult:
        """Run one Metaflow task on the backend (in a resume, clone it if the origin run's task
        succeeded) and return what it reported."""
        clone_of = None
        if self.resume is not None:
            clone_of = origin_task_to_clone(
                self.resume,
                self.flow.name,
                self.operator.step,
                task_id,
                self.flow.interpreter(),
                self.worker_environment(),
                self.flow_dir if os.path.isdir(self.flow_dir) else os.getcwd(),
            )
            self.log.info(
                "Resuming Metaflow run %s: %s",
                self.resume.origin_run_id,
                f"cloning {clone_of}" if clone_of else "running",
            )
        launch = self.launch(task_id, attempt, paths, split_index, clone_of)
        self.log.info("Metaflow task %s, attempt %d", launch.pathspec, attempt.attempt)
        self.log.info("Running %s", " ".join(launch.argv))  # Parameter values go to a file, not argv
        try:
            result = self.backend.run(launch, self._log_line)
        except StepStopped as stopped:
            raise AirflowException(str(stopped)) from None
        except StepFailed as failed:
            raise AirflowException(str(failed)) from None
        return checked(result, self.xcom_artifacts)

    def _log_line(self, _stream: str, line: bytes) -> None:
        self.log.info("%s", line.decode(errors="replace"))

    def finish(self, result: contract.TaskResult) -> list[int] | None:
        """Tell downstream tasks (and the UI link) which task ran and what it chose, and flows
        waiting for this one (the end step's Asset) which run finished, and native tasks the
        artifacts in xcom_artifacts. Returns the task's XCom return value: a foreach's split list,
        else None."""
        self.ti.xcom_push(key=XCOM_PATHSPEC_KEY, value=result.pathspec)
        self.ti.xcom_push(key=XCOM_NEXT_STEPS_KEY, value=result.next_steps)
        if self.xcom_artifacts is not None:
            xcom.push(self.ti, result, self.xcom_artifacts)
        announce_run(self.operator, self.context, result.pathspec)
        if result.foreach_num_splits is None:
            return None
        check_map_length(self.operator.step, result.foreach_num_splits)
        self.log.info("Foreach yields %d child steps.", result.foreach_num_splits)
        return list(range(result.foreach_num_splits))

    def kill(self) -> None:
        """Called from Airflow's SIGTERM handler: never blocks."""
        self._killed = True
        if self._backend is not None:
            self._backend.kill()

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()

    @cached_property
    def _trigger_options(self) -> list[str]:
        """`--trigger PATHSPEC` for each upstream run that started this DAG run (read once per
        try: a recursive step launches many tasks)."""
        if not (self.flow.trigger_assets or self.flow.trigger_sensors):
            return []
        return [option for run in upstream_runs(self.flow, self.context) for option in ("--trigger", run)]

    def worker_environment(self) -> dict[str, str]:
        """The environment of a Metaflow process this task starts on the worker."""
        return metaflow_environment(self.flow, self.operator.metaflow_conn_id)


def checked(result: contract.TaskResult, wanted: contract.XComArtifacts | None = None) -> contract.TaskResult:
    """A result whose step refused its input, or whose xcom_artifacts cannot go to XCom, fails
    the task for good: retrying cannot help."""
    if result.refusal:
        raise AirflowFailException(result.refusal)
    if wanted is not None and (problems := xcom.problems(result, wanted)):
        raise AirflowFailException(xcom.failure(result, problems))
    return result


def run_step(step_try: StepTry) -> contract.TaskResult:
    """One Airflow try of an ordinary step: one Metaflow task."""
    paths = step_try.input_paths()
    attempt = step_try.plan_attempt()
    split_index = split_index_for(step_try.inputs, step_try.index_path)
    return step_try.run_task(metaflow_task_id(step_try.index_path), attempt, paths, split_index)


def task_index_path(split_index: int | None, index_path: Sequence[int] | None) -> tuple[int, ...]:
    """The task's position in its enclosing foreaches, outermost first (empty outside any)."""
    if index_path is not None:
        return tuple(int(index) for index in index_path)
    return () if split_index is None else (int(split_index),)
