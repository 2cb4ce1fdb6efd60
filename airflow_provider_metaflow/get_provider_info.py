"""Provider metadata for Airflow's ProvidersManager (the `apache_airflow_provider` entry point).

Plain data only: Airflow calls this during provider discovery in every process.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_metaflow.version import __version__


def _text(label: str, description: str, *, secret: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": ["string", "null"]}
    if secret:
        schema["format"] = "password"
    return {"label": label, "description": description, "schema": schema}


# The `metaflow` connection's extra fields; MetaflowHook documents what each becomes.
_CONN_FIELDS = {
    "datastore": _text("Datastore", "local, s3, gs or azure (METAFLOW_DEFAULT_DATASTORE)."),
    "datastore_root": _text(
        "Datastore root",
        "s3://bucket/prefix, gs://bucket/prefix, an Azure container/prefix, or for local an "
        "absolute folder shared by every worker (METAFLOW_DATASTORE_SYSROOT_<DATASTORE>).",
    ),
    "metadata": _text(
        "Metadata provider",
        "local or service (METAFLOW_DEFAULT_METADATA); service when a URL is set.",
    ),
    "service_headers": _text(
        "Metadata service headers",
        'JSON object of HTTP headers, e.g. {"Authorization": "..."} (METAFLOW_SERVICE_HEADERS).',
        secret=True,
    ),
    "s3_endpoint_url": _text("S3 endpoint URL", "For S3-compatible stores (METAFLOW_S3_ENDPOINT_URL)."),
    "aws_access_key_id": _text("AWS access key id", "AWS_ACCESS_KEY_ID; empty: the worker's own."),
    "aws_secret_access_key": _text("AWS secret access key", "AWS_SECRET_ACCESS_KEY.", secret=True),
    "aws_session_token": _text("AWS session token", "AWS_SESSION_TOKEN.", secret=True),
    "aws_region": _text("AWS region", "AWS_DEFAULT_REGION."),
    "environment": _text(
        "More environment",
        'JSON object of further variables for Metaflow processes, e.g. {"METAFLOW_DATATOOLS_S3ROOT": "..."}.',
    ),
    "secret_environment": _text(
        "Secret environment",
        "JSON object of further variables whose values are secrets (masked in logs).",
        secret=True,
    ),
}


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
                    "airflow_provider_metaflow.operators.base",
                    "airflow_provider_metaflow.operators.step",
                    "airflow_provider_metaflow.operators.foreach",
                    "airflow_provider_metaflow.operators.exit_hook",
                    "airflow_provider_metaflow.operators.splits",
                    "airflow_provider_metaflow.operators.loop",
                    "airflow_provider_metaflow.kubernetes.operator",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Metaflow",
                "python-modules": ["airflow_provider_metaflow.sensors.flow"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Metaflow",
                "python-modules": ["airflow_provider_metaflow.triggers.flow"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Metaflow",
                "python-modules": ["airflow_provider_metaflow.hooks.metaflow"],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_metaflow.hooks.metaflow.MetaflowHook",
                "hook-name": "Metaflow",
                "connection-type": "metaflow",
                "conn-fields": _CONN_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port"],
                    "relabeling": {
                        "host": "Metadata service URL",
                        "password": "Metadata service auth key",
                    },
                    "placeholders": {
                        "host": "https://metaflow.example.com/api (empty: no metadata service)",
                        "password": "the service's x-api-key",
                        "datastore": "local, s3, gs or azure",
                        "datastore_root": "s3://bucket/metaflow",
                        "metadata": "local or service",
                    },
                },
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
                    },
                    "xcom_artifact_max_bytes": {
                        "description": (
                            "The largest JSON text, in bytes, of one artifact a Metaflow step operator "
                            "pushes to XCom (its xcom_artifacts argument); an operator's own "
                            "xcom_artifact_max_bytes wins. XCom lives in Airflow's metadata database, "
                            "so a larger artifact fails the task, naming it: read those with the "
                            "Metaflow client from the task's pathspec (XCom key pathspec) instead. "
                            "Read on the workers when a task runs.\n"
                        ),
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "262144",
                        "default": "65536",
                    },
                },
            }
        },
    }
