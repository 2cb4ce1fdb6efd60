"""MetaflowStepOperator: one Airflow task runs one Metaflow task, with Metaflow's own CLI.

This module is imported by every DAG file that uses the provider, on every parse, so it
imports only what defining the operator needs; running a step happens in `task_run`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_metaflow.flow import MetaflowFlow
from airflow_provider_metaflow.links import MetaflowTaskLink

if TYPE_CHECKING:
    from airflow_provider_metaflow.operators.task_run import StepTaskRun
    from metaflow_extensions.airflow_provider_metaflow.plugins.contract import TaskResult


class MetaflowStepArguments:
    """What every Metaflow step operator keeps of its arguments (see `step_attributes`), whether
    it runs the step as a local process or as a pod."""

    flow: MetaflowFlow
    step: str
    inputs: tuple[str, ...]
    foreach: str | None
    join_of: str | None
    split_index: int | None
    index_path: Sequence[int] | None
    conditional: bool
    env: dict[str, str]
    environment: dict[str, str]
    error_retries: int
    decospecs: tuple[str, ...]
    metaflow_conn_id: str | None


class MetaflowStepOperator(MetaflowStepArguments, BaseOperator):
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
    :param index_path: inside nested foreaches, the position in each enclosing foreach, outermost
        first (mapped with ``.expand`` over a ``MetaflowSplitsOperator``'s output).
    :param conditional: the step follows a switch, so it may not run: it runs with the parents
        that ran and chose it, and skips itself when there are none. Use with
        ``trigger_rule="none_failed"``.
    :param env: extra environment variables for the step process (templated).
    :param environment: the step's ``@environment`` variables (not templated: values are data).
    :param compute_resources: the step's ``@resources`` (cpu, memory, gpu, disk), for compute
        backends that size what they launch; a local process runs with what the worker has.
    :param error_retries: tries kept at the end of each retry cycle for Metaflow's fallback
        attempt (1 with ``@catch``); they run no user code.
    :param decospecs: decorators attached at ``create`` with ``--with`` (Metaflow decospecs), which
        the step process gets too.
    :param metaflow_conn_id: a ``metaflow`` connection for this step; the flow's when None.
    """

    template_fields: Sequence[str] = ("env",)
    ui_color = "#eaf4fc"
    operator_extra_links = (MetaflowTaskLink(),)
    _task_run: StepTaskRun | None = None  # set while executing, for on_kill
    compute_resources: dict[str, Any]

    def __init__(
        self,
        *,
        flow: MetaflowFlow,
        step: str,
        inputs: Sequence[str] = (),
        foreach: str | None = None,
        join_of: str | None = None,
        split_index: int | None = None,
        index_path: Sequence[int] | None = None,
        conditional: bool = False,
        env: Mapping[str, str] | None = None,
        environment: Mapping[str, str] | None = None,
        compute_resources: Mapping[str, Any] | None = None,
        error_retries: int = 0,
        decospecs: Sequence[str] = (),
        metaflow_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Stored in one step rather than through BaseOperator.__setattr__, which looks up a converter
        # and tracks init kwargs and XCom dependencies for each attribute: none applies to these
        # names while __init__ runs, and the per-attribute cost is paid by every task on every parse.
        vars(self).update(
            step_attributes(
                flow,
                step,
                inputs,
                foreach,
                join_of,
                split_index,
                index_path,
                conditional,
                env,
                environment,
                error_retries,
                decospecs,
                metaflow_conn_id,
            ),
            compute_resources=dict(compute_resources or {}),
        )

    def execute(self, context: Any) -> Any:
        from airflow_provider_metaflow.operators.task_run import StepTaskRun

        self._task_run = StepTaskRun(self, context)
        return self._result(self._run(self._task_run))

    def _run(self, task_run: StepTaskRun) -> TaskResult:
        from airflow_provider_metaflow.operators.task_run import run_step

        return run_step(task_run)

    def _result(self, result: TaskResult) -> Any:
        """The task's XCom return value; the foreach operator returns its split list."""
        return None

    def on_kill(self) -> None:
        if self._task_run is not None:
            self._task_run.kill()


def step_attributes(
    flow: MetaflowFlow,
    step: str,
    inputs: Sequence[str],
    foreach: str | None,
    join_of: str | None,
    split_index: int | None,
    index_path: Sequence[int] | None,
    conditional: bool,
    env: Mapping[str, str] | None,
    environment: Mapping[str, str] | None,
    error_retries: int,
    decospecs: Sequence[str],
    metaflow_conn_id: str | None,
) -> dict[str, Any]:
    """The Metaflow arguments every step operator keeps (local process or pod), normalised."""
    return {
        "flow": flow,
        "step": step,
        "inputs": tuple(inputs),
        "foreach": foreach,
        "join_of": join_of,
        "split_index": split_index,
        "index_path": index_path,
        "conditional": conditional,
        "env": dict(env or {}),
        "environment": dict(environment or {}),
        "error_retries": error_retries,
        "decospecs": tuple(decospecs),
        "metaflow_conn_id": metaflow_conn_id,
    }
