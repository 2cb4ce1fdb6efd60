"""Every Airflow-version difference lives here, so no other module branches on versions."""

from __future__ import annotations

from typing import Any

try:
    from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
except ImportError:  # Airflow 3.1
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowException,
        AirflowFailException,
        AirflowSkipException,
    )

__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowSkipException",
    "check_map_length",
    "core_timetable",
    "cron_timetable",
    "get_airflow_conf",
    "get_dagbag_class",
]


def get_airflow_conf() -> Any:
    """Airflow's configuration: `airflow.sdk.conf` from 3.2, `airflow.configuration.conf` on 3.1."""
    try:
        from airflow.sdk import conf

        return conf
    except ImportError:  # Airflow 3.1
        from airflow.configuration import conf as core_conf

        return core_conf


def get_dagbag_class() -> Any:
    """Airflow's DagBag moved to airflow.dag_processing.dagbag in 3.2."""
    try:
        from airflow.dag_processing.dagbag import DagBag

        return DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag as ModelsDagBag  # noqa: TID251 - moved in 3.2

        return ModelsDagBag


def core_timetable(timetable: Any) -> Any:
    """The scheduler-side timetable (with next_dagrun_info) for a DAG's timetable.

    From 3.2 a DAG holds a Task SDK description that only the scheduler turns into a working
    timetable; on 3.1 the DAG already holds the working one.
    """
    try:
        from airflow.serialization.encoders import coerce_to_core_timetable
    except ImportError:  # Airflow 3.1
        return timetable
    return coerce_to_core_timetable(timetable)


def cron_timetable(expression: str, *, timezone: str) -> Any:
    """A cron schedule in a time zone: fires once per match, at that zone's wall-clock time.

    `airflow.sdk.CronTriggerTimetable` from 3.2; the scheduler's own class on 3.1.
    """
    try:
        from airflow.sdk import CronTriggerTimetable
    except ImportError:  # Airflow 3.1
        from airflow.timetables.trigger import CronTriggerTimetable  # type: ignore[assignment]
    return CronTriggerTimetable(expression, timezone=timezone)


def check_map_length(foreach: str, width: int) -> None:
    """Fail with a message naming the setting: Airflow's own error for a too-long map is generic."""
    limit = get_airflow_conf().getint("core", "max_map_length", fallback=1024)
    if width > limit:
        raise AirflowFailException(
            f"Foreach step {foreach!r} produced {width} splits, more than Airflow maps in one task "
            f"(core.max_map_length = {limit}). Raise [core] max_map_length "
            "(AIRFLOW__CORE__MAX_MAP_LENGTH) on the scheduler and workers, or split the list."
        )
