"""Provider metadata for Airflow's ProvidersManager (the `apache_airflow_provider` entry point).

Plain data only: Airflow calls this during provider discovery in every process.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_metaflow.version import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-metaflow",
        "name": "Metaflow",
        "description": "Run Metaflow flows on Apache Airflow, one Airflow task per Metaflow task.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Metaflow",
                "external-doc-url": "https://docs.metaflow.org/",
                "tags": ["software"],
            }
        ],
        "operators": [
            {
                "integration-name": "Metaflow",
                "python-modules": [
                    "airflow_provider_metaflow.operators.step",
                    "airflow_provider_metaflow.operators.foreach",
                ],
            }
        ],
    }
