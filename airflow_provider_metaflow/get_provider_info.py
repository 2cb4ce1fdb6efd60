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
                    "airflow_provider_metaflow.operators.exit_hook",
                    "airflow_provider_metaflow.operators.splits",
                ],
            }
        ],
        "extra-links": ["airflow_provider_metaflow.links.MetaflowTaskLink"],
        "config": {
            "metaflow": {
                "description": "Options for the Metaflow provider.",
                "options": {
                    "ui_url": {
                        "description": (
                            "Base URL of the Metaflow UI. Each Metaflow task in Airflow gets an extra "
                            "link to {ui_url}/{flow}/{run}/{step}/{task}. Read on the workers when a "
                            "task finishes. When unset, Metaflow's METAFLOW_UI_URL environment "
                            "variable is used; with neither, the link is hidden.\n"
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "https://metaflow-ui.example.com",
                        "default": "",
                    }
                },
            }
        },
    }
