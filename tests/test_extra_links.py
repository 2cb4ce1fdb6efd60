"""Every Metaflow task in the Airflow UI links to its task in the Metaflow UI."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_metaflow.execution.upstream import XCOM_PATHSPEC_KEY
from airflow_provider_metaflow.get_provider_info import get_provider_info
from airflow_provider_metaflow.links import MetaflowTaskLink, metaflow_ui_base_url, metaflow_ui_url
from airflow_provider_metaflow.operators.foreach import MetaflowForeachOperator
from airflow_provider_metaflow.operators.step import MetaflowStepOperator
from airflow_provider_metaflow.testing import create_dag, run_dag
from airflow_provider_metaflow.version_compat import get_dagbag_class

UI = "https://mf-ui.example/"
LINK_NAME = MetaflowTaskLink.name


@pytest.fixture
def no_ui_url(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("AIRFLOW__METAFLOW__UI_URL", raising=False)
    monkeypatch.delenv("METAFLOW_UI_URL", raising=False)
    return monkeypatch


def test_link_is_the_task_page_under_the_ui_base_url() -> None:
    url = metaflow_ui_url("https://mf-ui.example/", "LinearFlow/airflow-abc123/end/t")

    assert url == "https://mf-ui.example/LinearFlow/airflow-abc123/end/t"


def test_link_keeps_a_base_path_and_tolerates_a_missing_trailing_slash() -> None:
    url = metaflow_ui_url("https://ops.example/metaflow", "TrainFlow/airflow-1/train/t-2")

    assert url == "https://ops.example/metaflow/TrainFlow/airflow-1/train/t-2"


def test_each_pathspec_part_is_url_quoted() -> None:
    url = metaflow_ui_url("https://mf-ui.example", "Flow/run 1?x=#y/st%ep/t-1")

    assert url == "https://mf-ui.example/Flow/run%201%3Fx%3D%23y/st%25ep/t-1"


@pytest.mark.parametrize(
    ("base", "pathspec"),
    [("", "Flow/run/step/t"), ("  ", "Flow/run/step/t"), (UI, "Flow/run"), (UI, "Flow/run//t"), (UI, "")],
)
def test_no_link_without_a_base_url_or_a_task_pathspec(base: str, pathspec: str) -> None:
    assert metaflow_ui_url(base, pathspec) == ""


def test_airflow_config_wins_over_metaflows_setting(no_ui_url: pytest.MonkeyPatch) -> None:
    no_ui_url.setenv("METAFLOW_UI_URL", "https://from-metaflow.example")
    assert metaflow_ui_base_url() == "https://from-metaflow.example"

    no_ui_url.setenv("AIRFLOW__METAFLOW__UI_URL", "https://from-airflow.example")
    assert metaflow_ui_base_url() == "https://from-airflow.example"


def _ti_key(task_id: str, map_index: int = -1) -> Any:
    return SimpleNamespace(dag_id="d", task_id=task_id, run_id="r", try_number=1, map_index=map_index)


def test_get_link_reads_the_pathspec_the_task_pushed(no_ui_url: pytest.MonkeyPatch) -> None:
    from airflow.sdk.execution_time.xcom import XCom

    key = _ti_key(task_id="train", map_index=2)
    asked: list[tuple[Any, str]] = []

    def get_value(*, ti_key: Any, key: str) -> Any:
        asked.append((ti_key, key))
        return "TrainFlow/airflow-1/train/t-2"

    no_ui_url.setattr(XCom, "get_value", get_value)
    no_ui_url.setenv("AIRFLOW__METAFLOW__UI_URL", UI)

    link = MetaflowTaskLink().get_link(MetaflowStepOperator.__new__(MetaflowStepOperator), ti_key=key)

    assert link == "https://mf-ui.example/TrainFlow/airflow-1/train/t-2"
    assert asked == [(key, XCOM_PATHSPEC_KEY)]


def test_get_link_is_empty_when_the_task_pushed_no_pathspec(no_ui_url: pytest.MonkeyPatch) -> None:
    from airflow.sdk.execution_time.xcom import XCom

    no_ui_url.setattr(XCom, "get_value", lambda *, ti_key, key: None)
    no_ui_url.setenv("AIRFLOW__METAFLOW__UI_URL", UI)
    key = _ti_key(task_id="end")

    assert MetaflowTaskLink().get_link(MetaflowStepOperator.__new__(MetaflowStepOperator), ti_key=key) == ""


def test_link_is_declared_to_airflow() -> None:
    info = get_provider_info()

    assert info["extra-links"] == ["airflow_provider_metaflow.links.MetaflowTaskLink"]
    ui_url = info["config"]["metaflow"]["options"]["ui_url"]
    assert ui_url["type"] == "string" and ui_url["default"] == ""
    assert any(isinstance(link, MetaflowTaskLink) for link in MetaflowStepOperator.operator_extra_links)
    assert MetaflowForeachOperator.operator_extra_links == MetaflowStepOperator.operator_extra_links


def test_provider_info_is_valid_for_airflow() -> None:
    from airflow.providers_manager import _create_provider_info_schema_validator

    _create_provider_info_schema_validator().validate(get_provider_info())


def _serialized_task(dag_file: Path, task_id: str) -> Any:
    """The task as the Airflow UI sees it: from the serialized DAG, not the DAG file."""
    from airflow.serialization.serialized_objects import DagSerialization

    bag = get_dagbag_class()(dag_folder=str(dag_file))
    (dag,) = bag.dags.values()
    return DagSerialization.from_dict(DagSerialization.to_dict(dag)).get_task(task_id)


def _ui_link(dag_file: Path, result: Any, task_id: str, map_index: int = -1) -> str:
    """What the Airflow UI shows for the task's Metaflow link, from Airflow's database."""
    from airflow.models.taskinstance import TaskInstance  # noqa: TID251 - the test reads Airflow's DB
    from airflow.utils.session import create_session

    task = _serialized_task(dag_file, task_id)
    (link,) = [link for link in task.operator_extra_links if link.name == LINK_NAME]
    with create_session() as session:
        ti = (
            session.query(TaskInstance)
            .filter_by(
                dag_id=result.dag_id, run_id=result.airflow_run_id, task_id=task_id, map_index=map_index
            )
            .one()
        )
        ti_key = ti.key
    return str(link.get_link(task, ti_key=ti_key))


def test_serialized_dag_keeps_the_link(flow_copy: Any, tmp_path: Path) -> None:
    dag_file = tmp_path / "linear_dag.py"
    create_dag(flow_copy("linear_flow.py"), dag_file)

    task = _serialized_task(dag_file, "end")

    assert [link.name for link in task.operator_extra_links] == [LINK_NAME]
    assert [link.xcom_key for link in task.operator_extra_links] == [MetaflowTaskLink().xcom_key]


@pytest.mark.e2e
def test_finished_task_links_to_its_metaflow_task(
    flow_copy: Any, dag_path: Path, airflow_db: Any, no_ui_url: pytest.MonkeyPatch
) -> None:
    create_dag(flow_copy("linear_flow.py"), dag_path)
    no_ui_url.setenv("AIRFLOW__METAFLOW__UI_URL", UI)

    result = run_dag(dag_path)

    assert result.state == "success"
    expected = f"https://mf-ui.example/LinearFlow/{result.metaflow_run_id}/end/t"
    assert _ui_link(dag_path, result, "end") == expected


@pytest.mark.e2e
def test_mapped_task_links_to_its_foreach_split(
    flow_copy: Any, dag_path: Path, airflow_db: Any, no_ui_url: pytest.MonkeyPatch
) -> None:
    create_dag(flow_copy("foreach_flow.py"), dag_path)
    no_ui_url.setenv("METAFLOW_UI_URL", "https://metaflow.example/ui")

    result = run_dag(dag_path)

    assert result.state == "success"
    expected = f"https://metaflow.example/ui/ForeachFlow/{result.metaflow_run_id}/measure/t-2"
    assert _ui_link(dag_path, result, "measure", map_index=2) == expected


@pytest.mark.e2e
def test_no_link_without_a_ui_url(
    flow_copy: Any, dag_path: Path, airflow_db: Any, no_ui_url: pytest.MonkeyPatch
) -> None:
    create_dag(flow_copy("linear_flow.py"), dag_path)

    result = run_dag(dag_path)

    assert result.state == "success"
    assert _ui_link(dag_path, result, "end") == ""
