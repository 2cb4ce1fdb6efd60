"""MetaflowForeachOperator: a foreach step whose return value is the list `.expand()` maps over."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_metaflow.operators.step import MetaflowStepOperator

if TYPE_CHECKING:
    from airflow_provider_metaflow.operators.task_run import StepTaskRun


class MetaflowForeachOperator(MetaflowStepOperator):
    """Runs a foreach step and returns ``[0, 1, ..., n-1]`` for its n splits.

    n is read from the attempt this try wrote, and checked against Airflow's
    ``core.max_map_length`` so a too-wide foreach fails here with a message naming the setting.
    """

    ui_color = "#d7ecfb"

    def _result(self, task_run: StepTaskRun) -> Any:
        from airflow_provider_metaflow.runtime import datastore
        from airflow_provider_metaflow.version_compat import check_map_length

        width = datastore.foreach_num_splits(
            task_run.settings,
            self.flow.name,
            task_run.run_id,
            self.step,
            task_run.task_id,
            attempt=task_run.attempt.attempt,
        )
        check_map_length(self.step, width)
        self.log.info("Foreach yields %d child steps.", width)
        return list(range(width))
