"""Metaflow's resume, on Airflow: a DAG run whose conf carries a ResumeRequest (written by
`python flow.py airflow resume`) is a new Metaflow run in which each task is cloned from the
origin run's task of the same step and foreach position when that one succeeded and its step is
not to run again; the others run, knowing the origin run (`current.origin_run_id`).

Task ids are made from the foreach position (runtime.ids), so the origin task of a task is the
one with the same id in the origin run, which must therefore be a run this provider made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_metaflow.runtime import probe
from airflow_provider_metaflow.version_compat import AirflowFailException
from metaflow_extensions.airflow_provider_metaflow.plugins.contract import RESUME_CONF_KEY, ResumeRequest


def resume_request(context: Mapping[str, Any]) -> ResumeRequest | None:
    """The ResumeRequest of this DAG run, or None for a run that resumes nothing."""
    conf = getattr(context.get("dag_run"), "conf", None) or {}
    if RESUME_CONF_KEY not in conf:
        return None
    try:
        return ResumeRequest.from_conf(conf[RESUME_CONF_KEY])
    except ValueError as error:
        raise AirflowFailException(f"The DAG run's conf: {error}.") from None


def origin_task_to_clone(
    request: ResumeRequest,
    flow_name: str,
    step: str,
    task_id: str,
    python: str,
    env: Mapping[str, str],
    cwd: str,
) -> str | None:
    """`RUN/step/task` of the origin run's task this task is a clone of, or None to run it."""
    if step in request.steps_to_rerun:
        return None
    answer = probe.ask(
        {"flow": flow_name, "run_id": request.origin_run_id, "tasks": [[step, task_id]]}, python, env, cwd
    )
    (record,) = answer["tasks"]
    if not (record["done"] and record["ok"]):
        return None
    return f"{request.origin_run_id}/{step}/{task_id}"
