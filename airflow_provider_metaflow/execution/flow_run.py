"""Where a DAG run's Metaflow run lives, as every Metaflow operator resolves it at task time."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from airflow_provider_metaflow.flow import MetaflowFlow
from airflow_provider_metaflow.runtime.ids import metaflow_run_id
from airflow_provider_metaflow.task_group import flow_group_id
from airflow_provider_metaflow.version_compat import AirflowFailException


@dataclass(frozen=True)
class FlowRun:
    flow_file: str  # absolute
    run_id: str  # the Metaflow run of this DAG run

    @property
    def flow_dir(self) -> str:
        return os.path.dirname(self.flow_file)


def locate_flow_run(operator: Any, flow: MetaflowFlow, context: Any, need_flow_file: bool = True) -> FlowRun:
    """The flow file (relative to the DAG file) and the Metaflow run id of this DAG run (of the
    operator's MetaflowTaskGroup, when the flow is one inside a larger DAG). A step
    that runs from the code package (a pod) does not need the flow file on the worker."""
    dag = operator.get_dag()
    flow_file = flow.resolve_file(dag.fileloc if dag is not None else None)
    if need_flow_file and not os.path.isfile(flow_file):
        raise AirflowFailException(
            f"Task {operator.task_id!r}: flow file {flow_file} does not exist. MetaflowFlow(file=...) is "
            "relative to the DAG file's folder; deploy the flow next to the DAG."
        )
    ti = context["ti"]
    return FlowRun(flow_file, metaflow_run_id(ti.dag_id, ti.run_id, flow_group_id(operator)))
