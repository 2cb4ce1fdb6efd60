"""MetaflowLoopOperator: a recursive step (a switch that can choose itself) as one Airflow task.

An Airflow DAG is acyclic, and unrolling the loop to a fixed depth would cap how often it may
repeat. So one task runs the loop the way Metaflow's own runtime does: iteration k is a new
Metaflow task (`t-i<k>`, or `t-2-i<k>` inside a foreach) whose input is iteration k-1, until
the step chooses another branch. Each iteration is one step process, shown in the task log.
Inside a foreach the task is mapped like any body step, so each split loops on its own.

A retry or a clear resumes at the first iteration that did not finish, as a new attempt of that
Metaflow task; a clear after the loop finished runs it again from the first iteration. Which
iterations finished is read from the datastore by a short probe process (runtime.probe), only
on tries after the first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_metaflow.operators.step import MetaflowStepOperator

if TYPE_CHECKING:
    from airflow_provider_metaflow.execution.step_try import StepTry
    from metaflow_extensions.airflow_provider_metaflow.plugins.contract import TaskResult


class MetaflowLoopOperator(MetaflowStepOperator):
    """Run a recursive Metaflow step until it leaves the loop.

    Takes the arguments of :class:`MetaflowStepOperator`. Pushes the last iteration's pathspec
    under ``pathspec``, the branch it left by under ``next_steps``, and that iteration's
    ``xcom_artifacts`` (the iterations before it push none).
    """

    ui_color = "#fcf3d7"

    def _run(self, step_try: StepTry) -> TaskResult:
        return run_loop(step_try)


def run_loop(step_try: StepTry) -> TaskResult:
    from airflow_provider_metaflow.runtime.ids import metaflow_task_id
    from airflow_provider_metaflow.runtime.inputs import run_relative, split_index_for

    step = step_try.operator.step
    paths = step_try.input_paths()
    start, attempts = resume_point(step, _earlier_iterations(step_try))
    if start > 0:
        step_try.log.info("Iterations 0-%d of %s finished in an earlier try; resuming.", start - 1, step)
        paths = [f"{step_try.run_id}/{step}/{metaflow_task_id(step_try.index_path, start - 1)}"]
    iteration = start
    while True:
        attempt = step_try.plan_attempt(attempt=attempts.get(iteration, 0))
        step_try.log.info("Recursive step %s: iteration %d", step, iteration)
        split_index = split_index_for(step_try.inputs, step_try.index_path) if iteration == 0 else None
        task_id = metaflow_task_id(step_try.index_path, iteration)
        result = step_try.run_task(task_id, attempt, paths, split_index)
        if result.next_steps != [step]:
            break
        paths = [run_relative(result.pathspec)]
        iteration += 1
    step_try.log.info(
        "Recursive step %s left the loop after %d iterations, to %s.", step, iteration + 1, result.next_steps
    )
    return result


def resume_point(step: str, history: list[dict[str, Any]]) -> tuple[int, dict[int, int]]:
    """(the iteration to start at, the attempt for each iteration that already has attempts).

    history: one probe record per iteration that started, in order.
    """
    for iteration, record in enumerate(history):
        if not (record["done"] and record["ok"]):
            return iteration, {iteration: record["attempt"] + 1}
    if history and history[-1]["next_steps"] == [step]:  # it chose to loop, then the try ended
        return len(history), {}
    return 0, {iteration: record["attempt"] + 1 for iteration, record in enumerate(history)}


def _earlier_iterations(step_try: StepTry) -> list[dict[str, Any]]:
    if step_try.ti.try_number <= 1:
        return []  # the first try of this task: no iteration can have started
    from airflow_provider_metaflow.runtime import probe
    from airflow_provider_metaflow.runtime.ids import iteration_task_id_prefix

    answer = probe.ask(
        {
            "flow": step_try.flow.name,
            "run_id": step_try.run_id,
            "iterations_of": [step_try.operator.step, iteration_task_id_prefix(step_try.index_path)],
        },
        python=step_try.flow.interpreter(),
        env=step_try.worker_environment(),
        cwd=step_try.flow_dir,
    )
    iterations: list[dict[str, Any]] = answer["iterations"]
    return iterations
