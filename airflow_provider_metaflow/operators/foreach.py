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
        from airflow_provider_metaflow.version_compat import AirflowFailException, get_airflow_conf

        width = datastore.foreach_num_splits(
            task_run.settings,
            self.flow.name,
            task_run.run_id,
            self.step,
            task_run.task_id,
            attempt=task_run.attempt.attempt,
        )
        limit = get_airflow_conf().getint("core", "max_map_length", fallback=1024)
        if width > limit:
            raise AirflowFailException(
                f"Foreach step {self.step!r} produced {width} splits, more than Airflow maps in "
                f"one task (core.max_map_length = {limit}). Raise [core] max_map_length "
                "(AIRFLOW__CORE__MAX_MAP_LENGTH) on the scheduler and workers, or split the list."
            )
        self.log.info("Foreach yields %d child steps.", width)
        return list(range(width))
