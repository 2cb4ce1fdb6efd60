"""Every Airflow-version difference lives here, so no other module branches on versions."""

from __future__ import annotations

from typing import Any


def get_airflow_conf() -> Any:
    """Airflow's configuration: `airflow.sdk.conf` from 3.2, `airflow.configuration.conf` on 3.1."""
    try:
        from airflow.sdk import conf
    except ImportError:  # Airflow 3.1
        from airflow.configuration import conf
    return conf


def get_dagbag_class() -> Any:
    """Airflow's DagBag moved to airflow.dag_processing.dagbag in 3.2."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag
    return DagBag
