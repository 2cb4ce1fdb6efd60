"""MetaflowStepBase: the arguments every Metaflow step operator shares, in one place.

Every DAG file that uses the provider imports this module on every parse, so it imports only
what defining an operator needs. Running a step happens in `execution.step_try` (the engine),
imported by `execute`; the engine drives the backend the step's plan names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_metaflow.flow import MetaflowFlow
from airflow_provider_metaflow.links import MetaflowTaskLink
from airflow_provider_metaflow.task_group import MetaflowTaskGroup, flow_group_of

if TYPE_CHECKING:
    from airflow_provider_metaflow.execution.step_try import StepTry
    from metaflow_extensions.airflow_provider_metaflow.plugins.contract import TaskResult

LOCAL_BACKEND = "local"


class MetaflowStepBase(BaseOperator):
    """Run one Metaflow step of one run, on the backend its plan names.

    The Metaflow run id is derived from (dag_id, Airflow run_id) and the task id from the map
    index, so parents' input paths need no XCom, and a retry is a new attempt of the same task.
    The task's pathspec is pushed to XCom under ``pathspec`` and the steps it chose under
    ``next_steps``; a foreach step returns its split list.

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
    :param parameters: for the start step, Parameter values given by the DAG's author (templated):
        Jinja templates such as ``"{{ ds }}"`` and XComArgs such as ``extract.output`` are
        resolved when the task runs. They win over the DAG run's params and conf of the same
        name, which are data and never rendered. The step process checks every value against
        the flow's Parameter types before anything runs.
    :param env: extra environment variables for the step process (templated).
    :param environment: the step's ``@environment`` variables (not templated: values are data).
    :param compute_resources: the step's ``@resources`` (cpu, memory, gpu, disk), for compute
        backends that size what they launch; a local process runs with what the worker has.
    :param error_retries: tries kept at the end of each retry cycle for Metaflow's fallback
        attempt (1 with ``@catch``); they run no user code.
    :param decospecs: decorators attached at ``create`` with ``--with`` (Metaflow decospecs), which
        the step process gets too.
    :param metaflow_conn_id: a ``metaflow`` connection for this step; the flow's when None.
    :param backend: the execution backend (``backends.registry``): ``local`` runs the step as a
        process on the worker.
    :param backend_options: that backend's settings, as `airflow create` resolved them from the
        step's decorators (data, not templated).
    :param xcom_artifacts: artifacts pushed to XCom after the step succeeds, each under its own
        name, for native tasks downstream (``step.output["NAME"]``); each must be JSON within
        ``xcom_artifact_max_bytes``, or the task fails naming it and nothing is pushed.
    :param xcom_artifact_max_bytes: the bound on each value's JSON text; when None,
        ``[metaflow] xcom_artifact_max_bytes`` where the task runs (default 65536).
    """

    template_fields: Sequence[str] = ("env", "parameters")
    operator_extra_links = (MetaflowTaskLink(),)
    _step_try: StepTry | None = None  # set while executing, for on_kill

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
    compute_resources: dict[str, Any]
    error_retries: int
    decospecs: tuple[str, ...]
    metaflow_conn_id: str | None
    backend: str
    backend_options: dict[str, Any]
    xcom_artifacts: tuple[str, ...]
    xcom_artifact_max_bytes: int | None

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
        parameters: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        environment: Mapping[str, str] | None = None,
        compute_resources: Mapping[str, Any] | None = None,
        error_retries: int = 0,
        decospecs: Sequence[str] = (),
        metaflow_conn_id: str | None = None,
        backend: str = LOCAL_BACKEND,
        backend_options: Mapping[str, Any] | None = None,
        xcom_artifacts: Sequence[str] = (),
        xcom_artifact_max_bytes: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        group = flow_group_of(self)
        if group is not None:  # the group's values for its steps: Parameters, artifacts to push
            _check_group(self.task_id, flow, group)
            if not inputs:
                parameters = {**group.parameters, **(parameters or {})}
            if step in group.xcom_artifacts:
                xcom_artifacts = [*group.xcom_artifacts[step], *xcom_artifacts]
        if parameters and inputs:
            raise ValueError(
                f"Task {self.task_id!r}: parameters= is given to step {step!r}, but a run's Parameter "
                "values are stored by its start step (the step with no inputs). Give them to the start "
                "step's operator."
            )
        if xcom_artifacts or xcom_artifact_max_bytes is not None:
            xcom_artifacts = _checked_xcom_artifacts(self.task_id, xcom_artifacts, xcom_artifact_max_bytes)
        # Stored in one step rather than through BaseOperator.__setattr__, which looks up a converter
        # and tracks init kwargs and XCom dependencies for each attribute: none applies to these
        # names while __init__ runs, and the per-attribute cost is paid by every task on every parse.
        vars(self).update(
            flow=flow,
            step=step,
            inputs=tuple(inputs),
            foreach=foreach,
            join_of=join_of,
            split_index=split_index,
            index_path=index_path,
            conditional=conditional,
            parameters=dict(parameters or {}),
            env=dict(env or {}),
            environment=dict(environment or {}),
            compute_resources=dict(compute_resources or {}),
            error_retries=error_retries,
            decospecs=tuple(decospecs),
            metaflow_conn_id=metaflow_conn_id,
            backend=self._backend_name(backend),
            backend_options=dict(backend_options or {}),
            xcom_artifacts=tuple(xcom_artifacts),
            xcom_artifact_max_bytes=xcom_artifact_max_bytes,
        )

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """A mapped step's operator is built only when it runs: check its xcom_artifacts at parse."""
        if kwargs.get("xcom_artifacts") or kwargs.get("xcom_artifact_max_bytes") is not None:
            _checked_xcom_artifacts(
                kwargs.get("task_id", "?"),
                kwargs.get("xcom_artifacts", ()),
                kwargs.get("xcom_artifact_max_bytes"),
            )
        return super().partial(**kwargs)

    def _backend_name(self, given: str) -> str:
        """The backend this operator runs steps on; an operator made for one backend fixes it."""
        return given

    def execute(self, context: Any) -> Any:
        from airflow_provider_metaflow.execution.step_try import StepTry

        self._step_try = StepTry(self, context)
        try:
            return self._return_value(self._step_try.finish(self._run(self._step_try)))
        finally:
            self._step_try.close()

    def _run(self, step_try: StepTry) -> TaskResult:
        """The Metaflow task(s) of this try; a recursive step runs several."""
        from airflow_provider_metaflow.execution.step_try import run_step

        return run_step(step_try)

    def _return_value(self, value: list[int] | None) -> Any:
        """The task's XCom return value: a foreach step's split list, else None."""
        return value

    def on_kill(self) -> None:
        if self._step_try is not None:
            self._step_try.kill()


def _check_group(task_id: str, flow: MetaflowFlow, group: MetaflowTaskGroup) -> None:
    """A MetaflowTaskGroup holds one flow: a step of another flow inside it would share its run."""
    if group.flow.name != flow.name:
        raise ValueError(
            f"Task {task_id!r} runs a step of flow {flow.name}, but it is inside MetaflowTaskGroup "
            f"{group.group_id!r} of flow {group.flow.name}. Give each flow its own MetaflowTaskGroup."
        )


def _checked_xcom_artifacts(task_id: str, names: Sequence[str], max_bytes: int | None) -> tuple[str, ...]:
    from airflow_provider_metaflow.execution.xcom_artifacts import checked_names  # only when used

    return checked_names(task_id, names, max_bytes)
