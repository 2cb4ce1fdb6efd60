"""The internal step decorator that Airflow attaches to every step it runs (`--with
airflow_provider_internal`), the way Metaflow's own schedulers attach theirs.

It does, inside the step process, what would otherwise need Metaflow in the Airflow task:
- in the start task, checks the DAG's step tasks against the flow's graph (the `wiring` module)
  and refuses a DAG wired differently, before anything of the run starts;
- stores the run's Parameters with Metaflow's own `init`, once per run, before `start` loads
  them (so the start task is one process, and a retried start does not redo it), after
  refusing any name that is not one of the flow's Parameters;
- turns SIGTERM (Airflow's kill, a timeout, the guard after a lost worker) into a failure that
  Metaflow records, instead of a task that stays unfinished forever;
- saves the step's output as the task's Metaflow logs when the process exits;
- writes what the scheduler needs (transition, foreach width, the artifacts the operator pushes
  to XCom) to a result file.

Metaflow imports every step decorator module in every process, so this module imports only the
standard library, the dependency-free contract and the adapter (whose Metaflow internals load on
first use) at module level.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from typing import Any

from metaflow.decorators import StepDecorator
from metaflow.exception import MetaflowException

from . import contract, metaflow_adapter, wiring


class ParametersRefused(MetaflowException):
    headline = "Airflow gave this run values that the flow's Parameters do not take"


class WiringRefused(MetaflowException):
    headline = "The Airflow DAG wires this flow's steps differently from the flow's graph"


class StepTerminated(BaseException):
    """The step was told to stop. A BaseException, so neither user code's `except Exception`
    nor @catch turns a kill into a success; Metaflow still records the attempt as failed."""


class AirflowProviderInternalDecorator(StepDecorator):
    name = contract.INTERNAL_DECORATOR
    defaults: dict[str, Any] = {}

    def step_init(
        self,
        flow: Any,
        graph: Any,
        step_name: str,
        decorators: Any,
        environment: Any,
        flow_datastore: Any,
        logger: Any,
    ) -> None:
        if os.environ.get(contract.ENV_PATHSPEC) is None:
            return  # attached outside an Airflow task: nothing to do
        _ProcessHooks.install(flow_datastore)
        if os.environ.get(contract.ENV_CLONE) and step_name == _pathspec()[2]:
            _at_interpreter_exit(lambda: _report_clone(flow_datastore))
        if step_name != metaflow_adapter.start_step(graph):
            return  # step_init runs for every step of the graph: act once per process
        wiring_file = os.environ.get(contract.ENV_DAG_WIRING_FILE)
        if wiring_file:
            _check_wiring(graph, wiring_file)
        parameters_file = os.environ.get(contract.ENV_RUN_PARAMETERS_FILE)
        if parameters_file:
            _store_parameters_once(flow, flow_datastore, parameters_file)

    def task_pre_step(
        self,
        step_name: str,
        task_datastore: Any,
        metadata: Any,
        run_id: str,
        task_id: str,
        flow: Any,
        graph: Any,
        retry_count: int,
        max_user_code_retries: int,
        ubf_context: Any,
        inputs: Any,
    ) -> None:
        self._run_id, self._task_id = run_id, task_id
        self._task_datastore, self._metadata = task_datastore, metadata
        _ProcessHooks.finishing = False
        _ProcessHooks.flow = flow
        airflow_task = os.environ.get(contract.ENV_AIRFLOW_TASK)
        if airflow_task:
            metaflow_adapter.register_task_metadata(
                metadata, run_id, step_name, task_id, retry_count, {"airflow-task-instance": airflow_task}
            )

    def task_post_step(
        self, step_name: str, flow: Any, graph: Any, retry_count: int, max_user_code_retries: int
    ) -> None:
        _ProcessHooks.finishing = True

    def task_exception(
        self,
        exception: BaseException,
        step_name: str,
        flow: Any,
        graph: Any,
        retry_count: int,
        max_user_code_retries: int,
    ) -> bool:
        _ProcessHooks.finishing = True
        return False

    def task_finished(
        self,
        step_name: str,
        flow: Any,
        graph: Any,
        is_task_ok: bool,
        retry_count: int,
        max_user_code_retries: int,
    ) -> None:
        _ProcessHooks.finishing = True
        if os.environ.get(contract.ENV_SYNC_METADATA) and hasattr(self, "_task_datastore"):
            metaflow_adapter.sync_metadata_to_datastore(self._metadata, self._task_datastore)
        next_steps, width = (
            metaflow_adapter.task_outcome(flow, graph, step_name) if is_task_ok else ([], None)
        )
        values, problems = (
            _xcom_artifacts(self._task_datastore, step_name, next_steps) if is_task_ok else ({}, {})
        )
        _report(
            contract.TaskResult(
                pathspec=f"{flow.name}/{self._run_id}/{step_name}/{self._task_id}",
                attempt=retry_count,
                task_ok=bool(is_task_ok),
                next_steps=next_steps,
                foreach_num_splits=width,
                xcom_values=values,
                xcom_problems=problems,
            )
        )


def _xcom_artifacts(
    task_datastore: Any, step_name: str, next_steps: list[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The artifacts the operator pushes to XCom, read back from the datastore Metaflow just
    wrote (persisting took them off the flow object). A recursive step's iterations that loop
    again report none: the iteration that leaves the loop does."""
    request = os.environ.get(contract.ENV_XCOM_ARTIFACTS)
    if not request or not os.environ.get(contract.ENV_RESULT_FILE) or step_name in next_steps:
        return {}, {}
    return contract.XComArtifacts.from_json(request).collect(
        lambda name: metaflow_adapter.task_artifact(task_datastore, name)
    )


def _pathspec() -> list[str]:
    """[flow, run, step, task] of the task this process runs."""
    return os.environ.get(contract.ENV_PATHSPEC, "///").split("/")


def _report_clone(flow_datastore: Any) -> None:
    """The result of a task Metaflow cloned (`step --clone-only` runs no decorator hook), read
    from what the clone wrote."""
    _flow, run_id, step, task_id = _pathspec()
    found = metaflow_adapter.finished_task(flow_datastore, run_id, step, task_id)
    ok = found.done and found.ok
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    if ok:
        task = metaflow_adapter.task_datastore(flow_datastore, run_id, step, task_id)
        values, problems = _xcom_artifacts(task, step, list(found.next_steps))
    _report(
        contract.TaskResult(
            pathspec=os.environ[contract.ENV_PATHSPEC],
            attempt=found.attempt or 0,
            task_ok=ok,
            next_steps=list(found.next_steps),
            foreach_num_splits=found.foreach_num_splits,
            xcom_values=values,
            xcom_problems=problems,
        )
    )


def _report(result: contract.TaskResult) -> None:
    """Write the result file the Airflow task reads (local processes only), atomically."""
    result_file = os.environ.get(contract.ENV_RESULT_FILE)
    if not result_file:
        return
    temporary = result_file + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(result.to_json())
    os.replace(temporary, result_file)


def _check_wiring(graph: Any, wiring_file: str) -> None:
    """Refuse a DAG whose step tasks disagree with the flow's graph, naming every problem."""
    with open(wiring_file, encoding="utf-8") as handle:
        dag = wiring.DagWiring.from_json(handle.read())
    problems = wiring.wiring_problems(wiring.graph_nodes(graph), dag)
    if problems:
        _refuse(WiringRefused(wiring.refusal(dag, problems)))


def _refuse(error: MetaflowException) -> None:
    """Fail the task before any user code ran: the Airflow side fails it for good with the text."""
    pathspec = os.environ.get(contract.ENV_PATHSPEC, "")
    attempt = int(os.environ.get(contract.ENV_ATTEMPT, "0"))
    _report(contract.TaskResult(pathspec=pathspec, attempt=attempt, task_ok=False, refusal=error.message))
    raise error


def _store_parameters_once(flow: Any, flow_datastore: Any, parameters_file: str) -> None:
    """Metaflow's `init` for the run, unless a previous try of `start` already ran it. Names that
    are not the flow's Parameters are refused before anything reaches `init`'s command line."""
    with open(parameters_file, encoding="utf-8") as handle:
        parameters = contract.RunParameters.from_json(handle.read())
    stored = metaflow_adapter.task_finished_in_datastore(
        flow_datastore, parameters.run_id, contract.PARAMETERS_STEP, parameters.task_id
    )
    if stored:
        print(f"Parameters of run {parameters.run_id} were already stored; not running init again.")
        return
    refusal = _parameters_refusal(flow, parameters.values)
    if refusal:
        _refuse(ParametersRefused(refusal))
    metaflow_adapter.run_init(
        metaflow_adapter.init_arguments(
            parameters.run_id, parameters.task_id, parameters.tags, parameters.values
        )
    )


def _parameters_refusal(flow: Any, values: dict[str, str]) -> str | None:
    """Why these values cannot be the run's Parameters (unknown names, values of the wrong
    type), or None: nothing reaches `init`'s command line before this says yes."""
    declared = metaflow_adapter.flow_parameter_names(flow)
    unknown = sorted(set(values) - set(declared))
    if unknown:
        return (
            f"The DAG run gives {', '.join(repr(name) for name in unknown)}, which "
            f"{'is not a Parameter' if len(unknown) == 1 else 'are not Parameters'} of flow "
            f"{flow.name} (its Parameters: {', '.join(declared) or 'none'}). Remove "
            f"{'it' if len(unknown) == 1 else 'them'} from the DAG run's conf or params or from the "
            "start task's parameters=, or list the flow's Parameters in "
            "MetaflowFlow(parameters=[...]) so that other DAG params are not passed to the flow."
        )
    problems = metaflow_adapter.parameter_value_problems(flow, values)
    if problems:
        return (
            f"Flow {flow.name}: {'; '.join(problems)}. Give a value of that type (a template "
            "renders to text, which must read as one; an XCom value is passed as pushed)."
        )
    return None


class _ProcessHooks:
    """Per-process hooks, installed once: the kill signal and the log upload at exit."""

    installed = False
    # Once user code has ended, Metaflow is persisting the attempt: a kill then must not
    # interrupt it halfway (the guard still ends the process after its grace period).
    finishing = False
    terminating = False
    flow: Any = None  # the FlowSpec the step runs, once user code started
    flow_datastore: Any = None

    @classmethod
    def install(cls, flow_datastore: Any) -> None:
        if cls.installed:
            return
        cls.installed = True
        cls.flow_datastore = flow_datastore
        signal.signal(signal.SIGTERM, cls._on_terminate)
        _at_interpreter_exit(cls._save_logs)

    @classmethod
    def _on_terminate(cls, signum: int, frame: Any) -> None:
        if cls.terminating:
            return  # already ending: let Metaflow record the failure
        cls.terminating = True
        print("The Airflow task was stopped: ending this Metaflow task.", file=sys.stderr, flush=True)
        if cls.finishing:
            return
        stopped = StepTerminated("terminated by Airflow (SIGTERM)")
        if cls.flow is not None:  # user code is running: record the attempt as failed
            metaflow_adapter.mark_failed(cls.flow, stopped)
        raise stopped

    @classmethod
    def _save_logs(cls) -> None:
        """Runs after Metaflow printed its last line (a traceback included), at process exit."""
        pathspec = os.environ.get(contract.ENV_PATHSPEC)
        files = {
            "stdout": os.environ.get(contract.ENV_STDOUT_FILE),
            "stderr": os.environ.get(contract.ENV_STDERR_FILE),
        }
        if not pathspec or not all(files.values()) or os.environ.get(contract.ENV_CLONE):
            return  # a clone keeps the logs of the task it was cloned from
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the grace period is for this upload
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        try:
            streams = {name: _read(path) for name, path in files.items() if path}
            attempt = int(os.environ.get(contract.ENV_ATTEMPT, "0"))
            metaflow_adapter.save_task_logs(cls.flow_datastore, pathspec, attempt, streams)
        except Exception as error:  # noqa: BLE001 - like Metaflow's own log upload: report, go on
            print(f"Could not save the logs of {pathspec}: {error}", file=sys.__stderr__)


def _at_interpreter_exit(callback: Any) -> None:
    """Run `callback` when the process ends, after Metaflow printed its last line but while
    thread pools still take work: S3, GCS and Azure clients upload through them, and an `atexit`
    callback runs after `concurrent.futures` has shut its pools. Threading's exit hooks run
    before that, newest first, so ours goes after concurrent.futures registers its own."""
    import concurrent.futures.thread  # noqa: F401 - registers its shutdown hook first
    import threading

    register = getattr(threading, "_register_atexit", None)
    if register is None:  # an interpreter without threading exit hooks
        atexit.register(callback)
    else:
        register(callback)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return b""
