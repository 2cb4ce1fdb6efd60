"""Reading XCom values and task instances from the test metadata database, after dag.test()
(the Task SDK reads XComs only inside tasks)."""

from __future__ import annotations

from typing import Any


def xcom_values(dag_id: str, run_id: str, task_id: str, key: str) -> list[Any]:
    """Every value pushed under `key` by the task's instances, in map-index order."""
    from airflow.models.xcom import XComModel  # noqa: TID251 - a test reading the metadata DB
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=run_id, dag_ids=dag_id, task_ids=task_id, key=key)
        rows = session.execute(query.with_only_columns(XComModel.map_index, XComModel.value)).all()
    return [XComModel.deserialize_value(row) for row in sorted(rows, key=lambda row: row.map_index)]


def task_instance(dag_id: str, run_id: str, task_id: str) -> Any:
    from airflow.models.taskinstance import TaskInstance  # noqa: TID251 - reading the test database
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id).one()
        session.expunge(ti)
        return ti
