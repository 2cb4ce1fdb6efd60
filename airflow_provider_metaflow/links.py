"""Extra links from Airflow task instances to their Metaflow task in the Metaflow UI.

Imported with the operators on every DAG parse, so it imports nothing beyond `airflow.sdk`
at module level. Airflow calls `get_link` on the worker when a task instance finishes and
stores the URL in XCom; the Airflow UI shows that stored URL. The base URL is therefore the
one configured where tasks run.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

CONFIG_SECTION = "metaflow"
CONFIG_UI_URL = "ui_url"  # [metaflow] ui_url, or AIRFLOW__METAFLOW__UI_URL
METAFLOW_UI_URL_ENV = "METAFLOW_UI_URL"  # Metaflow's own setting, the fallback


def metaflow_ui_url(base: str, pathspec: str) -> str:
    """The Metaflow UI page of a task: ``{base}/{flow}/{run}/{step}/{task}``.

    Each part of the pathspec is URL-quoted. Returns "" when there is no base URL or the
    pathspec does not name a task.
    """
    parts = pathspec.split("/")
    base = base.strip().rstrip("/")
    if not base or len(parts) != 4 or not all(parts):
        return ""
    return "/".join([base, *(quote(part, safe="") for part in parts)])


def metaflow_ui_base_url() -> str:
    """`[metaflow] ui_url` from Airflow's config, else Metaflow's METAFLOW_UI_URL, else ""."""
    from airflow_provider_metaflow.version_compat import get_airflow_conf

    configured = get_airflow_conf().get(CONFIG_SECTION, CONFIG_UI_URL, fallback="") or ""
    return configured.strip() or os.environ.get(METAFLOW_UI_URL_ENV, "").strip()


class MetaflowTaskLink(BaseOperatorLink):
    """The Metaflow UI page of the Metaflow task an Airflow task instance ran."""

    name = "Metaflow"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        base = metaflow_ui_base_url()
        if not base:
            return ""
        from airflow.sdk.execution_time.xcom import XCom

        from airflow_provider_metaflow.execution.upstream import XCOM_PATHSPEC_KEY

        pathspec = XCom.get_value(ti_key=ti_key, key=XCOM_PATHSPEC_KEY)
        if not isinstance(pathspec, str):  # the task failed before its step ran, or never ran
            return ""
        return metaflow_ui_url(base, pathspec)
