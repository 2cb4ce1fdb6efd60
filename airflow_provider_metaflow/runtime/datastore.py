"""Reads and writes in a run's Metaflow datastore, from the Airflow worker.

Metaflow is imported inside each function: this module is imported by operators, which
DAG files import, and parsing a DAG must not import Metaflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_metaflow.runtime.settings import MetaflowSettings


def _flow_datastore(settings: MetaflowSettings, flow_name: str) -> Any:
    from metaflow.datastore import FlowDataStore
    from metaflow.plugins import DATASTORES

    storage = next(impl for impl in DATASTORES if impl.TYPE == settings.datastore)
    return FlowDataStore(flow_name, None, storage_impl=storage, ds_root=settings.datastore_root)


def _latest_finished(settings: MetaflowSettings, flow_name: str, run_id: str, step: str, task_id: str) -> Any:
    """The task's latest attempt that wrote its DONE marker, or None if none did."""
    from metaflow.datastore.exceptions import DataException

    try:
        return _flow_datastore(settings, flow_name).get_task_datastore(run_id, step, task_id, mode="r")
    except DataException:
        return None


def task_is_done(settings: MetaflowSettings, flow_name: str, run_id: str, step: str, task_id: str) -> bool:
    """True when some attempt of the task finished and wrote its DONE marker."""
    return _latest_finished(settings, flow_name, run_id, step, task_id) is not None


def foreach_num_splits(
    settings: MetaflowSettings,
    flow_name: str,
    run_id: str,
    step: str,
    task_id: str,
    attempt: int | None,
) -> int:
    """The cardinality a finished foreach task wrote; `attempt=None` takes its latest done attempt."""
    datastore = _flow_datastore(settings, flow_name).get_task_datastore(
        run_id, step, task_id, attempt=attempt, mode="r"
    )
    return int(datastore["_foreach_num_splits"])


def save_task_logs(
    settings: MetaflowSettings,
    flow_name: str,
    run_id: str,
    step: str,
    task_id: str,
    attempt: int,
    streams: Mapping[str, bytes],
) -> None:
    """Store mflog-formatted output where `Task(...).stdout` looks, as Metaflow's runtime does."""
    from metaflow.mflog import RUNTIME_LOG_SOURCE

    datastore = _flow_datastore(settings, flow_name).get_task_datastore(
        run_id, step, task_id, attempt=attempt, mode="w"
    )
    datastore.save_logs(RUNTIME_LOG_SOURCE, dict(streams))


def format_log_line(line: bytes) -> bytes:
    """One output line in Metaflow's structured log format (mflog)."""
    from metaflow.mflog import RUNTIME_LOG_SOURCE, mflog

    return bytes(mflog.decorate(RUNTIME_LOG_SOURCE, line))


def next_steps(
    settings: MetaflowSettings, flow_name: str, run_id: str, step: str, task_id: str
) -> list[str] | None:
    """The steps a finished, successful task chose to run next; None if it did not succeed.
    After a switch, only the branch taken is named."""
    datastore = _latest_finished(settings, flow_name, run_id, step, task_id)
    if datastore is None or not datastore["_task_ok"]:
        return None
    transition = datastore["_transition"]
    return list(transition[0]) if transition else []


def task_succeeded(settings: MetaflowSettings, flow_name: str, run_id: str, step: str, task_id: str) -> bool:
    """True when the task's latest finished attempt ended successfully."""
    datastore = _latest_finished(settings, flow_name, run_id, step, task_id)
    return datastore is not None and bool(datastore["_task_ok"])
