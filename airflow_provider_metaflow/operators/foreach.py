"""MetaflowForeachOperator: a foreach step whose return value is the list `.expand()` maps over."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_metaflow.operators.step import MetaflowStepOperator

if TYPE_CHECKING:
    from metaflow_extensions.airflow_provider_metaflow.plugins.contract import TaskResult


class MetaflowForeachOperator(MetaflowStepOperator):
    """Runs a foreach step and returns ``[0, 1, ..., n-1]`` for its n splits.

    n comes from the attempt this try ran (its step process reports it), and is checked against Airflow's
    ``core.max_map_length`` so a too-wide foreach fails here with a message naming the setting.
    """

    ui_color = "#d7ecfb"

    def _result(self, result: TaskResult) -> Any:
        from airflow_provider_metaflow.version_compat import AirflowException, check_map_length

        width = result.foreach_num_splits
        if width is None:
            raise AirflowException(f"Step {self.step!r} is not a foreach step: it reported no splits.")
        check_map_length(self.step, width)
        self.log.info("Foreach yields %d child steps.", width)
        return list(range(width))
