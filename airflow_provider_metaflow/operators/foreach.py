"""MetaflowForeachOperator: a foreach step whose return value is the list `.expand()` maps over."""

from __future__ import annotations

from typing import Any

from airflow_provider_metaflow.operators.step import MetaflowStepOperator


class MetaflowForeachOperator(MetaflowStepOperator):
    """Runs a foreach step and returns ``[0, 1, ..., n-1]`` for its n splits.

    n comes from the attempt this try ran (its step process reports it), and is checked against
    Airflow's ``core.max_map_length`` so a too-wide foreach fails here with a message naming the
    setting.
    """

    ui_color = "#d7ecfb"

    def _return_value(self, value: list[int] | None) -> Any:
        if value is None:
            from airflow_provider_metaflow.version_compat import AirflowException

            raise AirflowException(f"Step {self.step!r} is not a foreach step: it reported no splits.")
        return value
