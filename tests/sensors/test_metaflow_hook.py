"""MetaflowHook: a `metaflow` connection becomes the environment of Metaflow child processes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_metaflow import MetaflowHook
from airflow_provider_metaflow.version_compat import AirflowException

AUTH_KEY = "fake-auth-key-7f3a9c"
AWS_SECRET = "fake-aws-secret-51d0e2"
HEADER_TOKEN = "Bearer fake-header-token-88ab"
EXTRA_SECRET = "fake-extra-secret-c4e7f1"


def define_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "metaflow", **fields}))
    return conn_id


def test_connection_fields_become_metaflow_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = define_connection(
        monkeypatch,
        "mf_full",
        host="https://metaflow.example.com/api",
        password=AUTH_KEY,
        extra={
            "datastore_root": "s3://bucket/metaflow",
            "service_headers": {"Authorization": HEADER_TOKEN},
            "s3_endpoint_url": "http://127.0.0.1:9000",
            "aws_access_key_id": "fake-key-id",
            "aws_secret_access_key": AWS_SECRET,
            "aws_region": "eu-west-1",
            "environment": {"METAFLOW_DATATOOLS_S3ROOT": "s3://bucket/data"},
            "secret_environment": json.dumps({"METAFLOW_EXTRA_TOKEN": EXTRA_SECRET}),
        },
    )

    environment = MetaflowHook(conn_id).metaflow_environment()

    assert environment == {
        "METAFLOW_DEFAULT_DATASTORE": "s3",
        "METAFLOW_DATASTORE_SYSROOT_S3": "s3://bucket/metaflow",
        "METAFLOW_DEFAULT_METADATA": "service",
        "METAFLOW_SERVICE_URL": "https://metaflow.example.com/api",
        "METAFLOW_SERVICE_AUTH_KEY": AUTH_KEY,
        "METAFLOW_SERVICE_HEADERS": json.dumps({"Authorization": HEADER_TOKEN}),
        "METAFLOW_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_ACCESS_KEY_ID": "fake-key-id",
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_DEFAULT_REGION": "eu-west-1",
        "METAFLOW_DATATOOLS_S3ROOT": "s3://bucket/data",
        "METAFLOW_EXTRA_TOKEN": EXTRA_SECRET,
    }


def test_secrets_are_listed_and_masked_in_airflow_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.log import redact

    conn_id = define_connection(
        monkeypatch,
        "mf_secrets",
        password=AUTH_KEY,
        extra={
            "aws_secret_access_key": AWS_SECRET,
            "service_headers": json.dumps({"X-Token": HEADER_TOKEN}),
            "secret_environment": {"METAFLOW_EXTRA_TOKEN": EXTRA_SECRET},
            "datastore_root": "gs://bucket/metaflow",
        },
    )
    hook = MetaflowHook(conn_id)
    hook.metaflow_environment()

    secrets = hook.secret_values()

    assert {AUTH_KEY, AWS_SECRET, HEADER_TOKEN, EXTRA_SECRET} <= set(secrets)
    assert "gs://bucket/metaflow" not in secrets
    for secret in (AUTH_KEY, AWS_SECRET, HEADER_TOKEN, EXTRA_SECRET):
        assert secret not in str(redact(f"value={secret}"))


def test_local_datastore_needs_an_absolute_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    good = define_connection(monkeypatch, "mf_local", extra={"datastore_root": str(tmp_path)})
    assert MetaflowHook(good).metaflow_environment() == {
        "METAFLOW_DEFAULT_DATASTORE": "local",
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(tmp_path),
    }
    relative = define_connection(
        monkeypatch, "mf_relative", extra={"datastore": "local", "datastore_root": "metaflow"}
    )
    with pytest.raises(AirflowException, match="'mf_relative'.*'datastore_root' must be an absolute"):
        MetaflowHook(relative).metaflow_environment()


def test_unknown_datastore_and_metadata_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    datastore = define_connection(monkeypatch, "mf_bad_store", extra={"datastore": "ftp"})
    with pytest.raises(AirflowException, match="'datastore' must be one of local, s3, gs, azure"):
        MetaflowHook(datastore).metaflow_environment()
    metadata = define_connection(monkeypatch, "mf_bad_meta", extra={"metadata": "database"})
    with pytest.raises(AirflowException, match="'metadata' must be one of local, service"):
        MetaflowHook(metadata).metaflow_environment()


def test_malformed_secret_field_is_refused_without_showing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = define_connection(
        monkeypatch, "mf_bad_json", extra={"secret_environment": f"{{not json {EXTRA_SECRET}"}
    )
    with pytest.raises(AirflowException, match="'secret_environment' is not valid JSON") as raised:
        MetaflowHook(conn_id).metaflow_environment()
    assert EXTRA_SECRET not in str(raised.value)


def test_fields_saved_with_the_form_prefix_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = define_connection(
        monkeypatch, "mf_prefixed", extra={"extra__metaflow__datastore_root": "s3://bucket/prefix"}
    )
    assert (
        MetaflowHook(conn_id).metaflow_environment()["METAFLOW_DATASTORE_SYSROOT_S3"] == "s3://bucket/prefix"
    )


def test_without_a_connection_the_workers_own_config_applies() -> None:
    hook = MetaflowHook()
    assert hook.metaflow_environment() == {}
    assert hook.secret_values() == []


def test_airflow_lists_the_connection_type_with_its_form() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    widgets = manager.connection_form_widgets
    assert widgets["extra__metaflow__datastore_root"].hook_class_name == (
        "airflow_provider_metaflow.hooks.metaflow.MetaflowHook"
    )
    assert widgets["extra__metaflow__aws_secret_access_key"].is_sensitive
    assert widgets["extra__metaflow__service_headers"].is_sensitive
    assert not widgets["extra__metaflow__datastore"].is_sensitive
    behaviour = manager.field_behaviours["metaflow"]
    assert behaviour["relabeling"]["host"] == "Metadata service URL"
    assert "login" in behaviour["hidden_fields"]


def test_importing_the_hook_sensor_and_trigger_does_not_import_metaflow() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import airflow_provider_metaflow.hooks.metaflow, airflow_provider_metaflow.sensors.flow\n"
        "import airflow_provider_metaflow.triggers.flow\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'metaflow'))\n"
    )
    completed = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"
