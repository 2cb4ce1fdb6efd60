"""The sensor `airflow create` puts in front of start for an upstream flow deployed elsewhere,
rendered as Airflow renders it at run time and poked against real runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flow_process import FlowProcess

from airflow_provider_metaflow.testing import create_dag
from airflow_provider_metaflow.version_compat import get_dagbag_class

# Metaflow takes the user name as it is (only @project's name and --branch are restricted to
# [a-z0-9_]), so a @project run by this user is on the branch "user.{{ ds }}".
BRACED_USER = "{{ ds }}"

DOWNSTREAM_FLOW = """
from metaflow import FlowSpec, step, trigger_on_finish


@trigger_on_finish(flow="sensor_proj.user.{{ ds }}.ProjectSensedFlow")
class AfterBracedBranchFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    AfterBracedBranchFlow()
"""


def run_context() -> dict[str, Any]:
    """What the templates could read, and a data interval that opened before the upstream run."""
    opened = datetime(2025, 1, 1, tzinfo=UTC)
    return {"ds": "2025-01-01", "data_interval_start": opened, "data_interval_end": opened}


def test_generated_sensor_waits_for_the_branch_the_flow_names_even_with_braces(
    sensor_flows: Path, tmp_path: Path
) -> None:
    upstream = FlowProcess(sensor_flows / "project_sensed_flow.py", env={"METAFLOW_USER": BRACED_USER})
    try:
        upstream_run = upstream.finish()
    finally:
        upstream.stop()
    flow_file = sensor_flows / "after_braced_branch_flow.py"
    flow_file.write_text(DOWNSTREAM_FLOW)
    dag_file = tmp_path / "after_braced_branch_dag.py"
    create_dag(flow_file, dag_file)
    bag = get_dagbag_class()(dag_folder=str(dag_file))
    assert bag.import_errors == {}
    sensor = bag.dags["AfterBracedBranchFlow"].get_task("wait_for_ProjectSensedFlow")
    context = run_context()

    sensor.render_template_fields(context)

    query = sensor.run_query(context)
    assert query.tags == ("project:sensor_proj", "project_branch:user.{{ ds }}")
    result = sensor.poke(context)
    assert result and result.xcom_value == upstream_run
