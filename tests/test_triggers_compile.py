"""@trigger_on_finish and @trigger at `create`: Assets when the upstream flow is deployed here, a
sensor otherwise, named events as Assets with their payload mapped to Parameters."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import literal

from airflow_provider_metaflow.testing import create_dag
from airflow_provider_metaflow.version_compat import get_dagbag_class


def _load(dag_file: Path) -> Any:
    bag = get_dagbag_class()(dag_folder=str(dag_file))
    assert bag.import_errors == {}
    (dag,) = bag.dags.values()
    return dag


@pytest.fixture
def fresh_datastore(tmp_path: Path) -> dict[str, str]:
    """A datastore where nothing was deployed yet."""
    return {
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(tmp_path / "store"),
        "METAFLOW_HOME": str(tmp_path / "home"),
    }


def test_an_upstream_flow_deployed_elsewhere_is_waited_for_by_a_sensor_in_front_of_start(
    flow_copy: Any, tmp_path: Path, fresh_datastore: dict[str, str]
) -> None:
    dag_file = tmp_path / "downstream_dag.py"
    create_dag(flow_copy("downstream_flow.py"), dag_file, env=fresh_datastore)

    dag = _load(dag_file)

    sensor = dag.get_task("wait_for_UpstreamFlow")
    assert type(sensor).__name__ == "MetaflowFlowSensor" and sensor.flow_name == "UpstreamFlow"
    assert sensor.mode == "reschedule"
    assert dag.get_task("start").upstream_task_ids == {"wait_for_UpstreamFlow"}
    assert type(dag.timetable).__name__ == "NullTimetable"  # runs when triggered, not on a schedule
    assert dag.get_task("start").flow.trigger_sensors == ("wait_for_UpstreamFlow",)


def test_an_upstream_flow_deployed_here_schedules_the_dag_on_its_asset(
    flow_copy: Any, tmp_path: Path, fresh_datastore: dict[str, str]
) -> None:
    create_dag(flow_copy("upstream_flow.py"), tmp_path / "upstream_dag.py", env=fresh_datastore)
    dag_file = tmp_path / "downstream_dag.py"
    create_dag(flow_copy("downstream_flow.py"), dag_file, env=fresh_datastore)

    dag = _load(dag_file)
    upstream = _load(tmp_path / "upstream_dag.py")

    assert [asset.name for asset in dag.timetable.asset_condition.objects] == ["metaflow://UpstreamFlow"]
    assert "wait_for_UpstreamFlow" not in dag.task_ids
    assert dag.get_task("start").flow.trigger_assets == ("metaflow://UpstreamFlow",)
    assert [asset.name for asset in upstream.get_task("end").outlets] == ["metaflow://UpstreamFlow"]
    assert [asset.name for asset in dag.get_task("end").outlets] == ["metaflow://DownstreamFlow"]


def test_a_named_event_becomes_an_asset_whose_payload_fills_the_parameters(
    flow_copy: Any, tmp_path: Path
) -> None:
    dag_file = tmp_path / "event_dag.py"
    create_dag(flow_copy("event_flow.py"), dag_file)

    dag = _load(dag_file)

    assert [asset.name for asset in dag.timetable.asset_condition.objects] == ["metaflow-event://table_ready"]
    assert dag.get_task("start").flow.event_parameters == {
        "metaflow-event://table_ready": {"rows": "row_count", "table": "table_name"}
    }


def test_a_schedule_together_with_a_trigger_is_refused_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    flow_file = tmp_path / "both_flow.py"
    flow_file.write_text(
        "from metaflow import FlowSpec, schedule, step, trigger\n\n\n"
        "@schedule(daily=True)\n@trigger(event='table_ready')\n"
        "class BothFlow(FlowSpec):\n"
        "    @step\n    def start(self):\n        self.next(self.end)\n\n"
        "    @step\n    def end(self):\n        pass\n\n\n"
        "if __name__ == '__main__':\n    BothFlow()\n"
    )
    dag_file = tmp_path / "both_dag.py"

    with pytest.raises(subprocess.CalledProcessError) as failure:
        create_dag(flow_file, dag_file, env={"METAFLOW_HOME": str(tmp_path / "home")})

    message = failure.value.stdout + failure.value.stderr
    assert "@schedule: is on a flow that also has @trigger or @trigger_on_finish" in message
    assert not dag_file.exists() and not os.path.exists(tmp_path / "home")


def test_several_upstream_flows_and_project_qualified_names_each_get_an_asset_or_a_sensor(
    flow_copy: Any, tmp_path: Path, fresh_datastore: dict[str, str]
) -> None:
    create_dag(flow_copy("upstream_flow.py"), tmp_path / "upstream_dag.py", env=fresh_datastore)
    flow_file = tmp_path / "joint_flow.py"
    flow_file.write_text(
        "from metaflow import FlowSpec, step, trigger_on_finish\n\n\n"
        "@trigger_on_finish(flows=['UpstreamFlow', 'shop.prod.OrdersFlow'])\n"
        "class JointFlow(FlowSpec):\n"
        "    @step\n    def start(self):\n        self.next(self.end)\n\n"
        "    @step\n    def end(self):\n        pass\n\n\n"
        "if __name__ == '__main__':\n    JointFlow()\n"
    )
    dag_file = tmp_path / "joint_dag.py"

    create_dag(flow_file, dag_file, env=fresh_datastore)

    dag = _load(dag_file)
    assert [asset.name for asset in dag.timetable.asset_condition.objects] == ["metaflow://UpstreamFlow"]
    sensor = dag.get_task("wait_for_OrdersFlow")  # OrdersFlow was not deployed here
    assert (sensor.flow_name, sensor.project, sensor.project_branch) == (
        "OrdersFlow",
        literal("shop"),
        literal("prod"),
    )
    flow = dag.get_task("start").flow
    assert flow.trigger_assets == ("metaflow://UpstreamFlow",)
    assert flow.trigger_sensors == ("wait_for_OrdersFlow",)


def test_project_and_branch_named_by_the_flow_reach_the_sensor_query_untemplated(
    tmp_path: Path, fresh_datastore: dict[str, str]
) -> None:
    """Metaflow checks only the flow name of @trigger_on_finish: a project or branch may hold
    Jinja syntax, which is data here, as in every value that comes from the flow."""
    flow_file = tmp_path / "braces_flow.py"
    flow_file.write_text(
        "from metaflow import FlowSpec, step, trigger_on_finish\n\n\n"
        "@trigger_on_finish(flow={'name': 'OrdersFlow', 'project': '{{ ds }}', "
        "'project_branch': 'test.{# x #}'})\n"
        "class BracesFlow(FlowSpec):\n"
        "    @step\n    def start(self):\n        self.next(self.end)\n\n"
        "    @step\n    def end(self):\n        pass\n\n\n"
        "if __name__ == '__main__':\n    BracesFlow()\n"
    )
    dag_file = tmp_path / "braces_dag.py"
    create_dag(flow_file, dag_file, env=fresh_datastore)
    sensor = _load(dag_file).get_task("wait_for_OrdersFlow")
    context = {"ds": "2025-01-01", "logical_date": datetime(2025, 1, 1, tzinfo=UTC)}

    sensor.render_template_fields(context)

    assert sensor.run_query(context).tags == ("project:{{ ds }}", "project_branch:test.{# x #}")
