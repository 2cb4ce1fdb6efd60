"""MetaflowSplitsOperator: the flat list of index paths a nested foreach's body is mapped over.

A foreach inside another foreach runs once per outer split, each with its own width (ragged
widths are fine). Airflow cannot flatten a mapped task's list of lists, and nested mapped task
groups are fragile, so this small task reads every instance's cardinality from the datastore
(deterministic task ids, no XCom per split) and returns [[outer..., inner], ...]. Each innermost
task is then one mapped task instance, so all of them can run in parallel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from airflow_provider_metaflow.flow import MetaflowFlow


class MetaflowSplitsOperator(BaseOperator):
    """Return the index paths of every split of every instance of a nested foreach step.

    :param flow: the flow.
    :param foreach: the nested foreach step.
    :param outer_splits: the positions of its instances: the enclosing foreach's split indexes
        (an unmapped foreach's return value) or index paths (another splits task's return value).
    """

    template_fields: Sequence[str] = ("outer_splits",)
    ui_color = "#e4f1e1"

    def __init__(self, *, flow: MetaflowFlow, foreach: str, outer_splits: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.flow = flow
        self.foreach = foreach
        self.outer_splits = outer_splits

    def execute(self, context: Any) -> list[list[int]]:
        from airflow_provider_metaflow.operators.flow_run import locate_flow_run
        from airflow_provider_metaflow.runtime import datastore
        from airflow_provider_metaflow.runtime.ids import metaflow_task_id
        from airflow_provider_metaflow.version_compat import check_map_length

        run = locate_flow_run(self, self.flow, context)
        paths: list[list[int]] = []
        for outer in self.outer_splits:
            outer_path = [outer] if isinstance(outer, int) else list(outer)
            width = datastore.foreach_num_splits(
                run.settings,
                self.flow.name,
                run.run_id,
                self.foreach,
                metaflow_task_id(outer_path),
                attempt=None,
            )
            paths += [[*outer_path, index] for index in range(width)]
        check_map_length(self.foreach, len(paths))
        self.log.info("Foreach %s yields %d child steps in all.", self.foreach, len(paths))
        return paths
