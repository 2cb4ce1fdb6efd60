"""MetaflowHook: the Metaflow configuration held by a `metaflow` Airflow connection.

The hook imports no Metaflow: it runs inside Airflow workers and the triggerer, and Metaflow reads
its configuration from the environment once, when first imported. So the hook's product is an
environment for Metaflow *child processes* (a step, a client query), never a configured client.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_metaflow.version_compat import AirflowException

CONN_TYPE = "metaflow"
DATASTORES = ("local", "s3", "gs", "azure")
METADATA_PROVIDERS = ("local", "service")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ROOT_SCHEMES = {"s3://": "s3", "gs://": "gs"}
# Extra fields copied to one environment variable each: (extra field, variable, is secret).
_PLAIN_FIELDS = (
    ("s3_endpoint_url", "METAFLOW_S3_ENDPOINT_URL", False),
    ("aws_access_key_id", "AWS_ACCESS_KEY_ID", False),
    ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY", True),
    ("aws_session_token", "AWS_SESSION_TOKEN", True),
    ("aws_region", "AWS_DEFAULT_REGION", False),
)


@dataclass
class _Resolved:
    environment: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)

    def set(self, name: str, value: str, *, secret: bool = False) -> None:
        self.environment[name] = value
        if secret:
            self.secrets.append(value)


class MetaflowHook(BaseHook):
    """Metaflow configuration (datastore, metadata, credentials) from an Airflow connection.

    A ``metaflow`` connection maps to Metaflow's own settings (``metaflow/metaflow_config.py``):

    ============================  ==========================================================
    connection field              environment variable
    ============================  ==========================================================
    host                          ``METAFLOW_SERVICE_URL`` (the metadata service URL, in full:
                                  ``https://metaflow.example.com/api``); implies
                                  ``METAFLOW_DEFAULT_METADATA=service``
    password (secret)             ``METAFLOW_SERVICE_AUTH_KEY``
    extra ``metadata``            ``METAFLOW_DEFAULT_METADATA``: ``local`` or ``service``
    extra ``service_headers``     ``METAFLOW_SERVICE_HEADERS``: a JSON object (secret)
    extra ``datastore``           ``METAFLOW_DEFAULT_DATASTORE``: local, s3, gs or azure
                                  (inferred from an ``s3://`` / ``gs://`` / absolute root)
    extra ``datastore_root``      ``METAFLOW_DATASTORE_SYSROOT_<DATASTORE>``: ``s3://bucket/prefix``,
                                  ``gs://...``, an Azure ``container/prefix``, or for local an
                                  absolute folder (the one holding ``.metaflow``) shared by every
                                  worker and by the client
    extra ``s3_endpoint_url``     ``METAFLOW_S3_ENDPOINT_URL``
    extra ``aws_access_key_id``   ``AWS_ACCESS_KEY_ID``
    extra ``aws_secret_access_key``  ``AWS_SECRET_ACCESS_KEY`` (secret)
    extra ``aws_session_token``   ``AWS_SESSION_TOKEN`` (secret)
    extra ``aws_region``          ``AWS_DEFAULT_REGION``
    extra ``environment``         a JSON object of further variables (``METAFLOW_*``, ...)
    extra ``secret_environment``  the same, for values that are secrets
    ============================  ==========================================================

    Named fields win over the two JSON objects. Empty fields set nothing, so the worker's own
    Metaflow configuration (its environment, ``~/.metaflowconfig``) applies to them; without a
    connection id the hook returns no variables at all. Secret values are masked in Airflow's logs
    as soon as they are read, and only ever travel in a child process's environment: never in a
    DAG file, a command line, XCom or a trigger's serialized arguments.

    :param metaflow_conn_id: the Airflow connection (type ``metaflow``); None for the worker's
        own Metaflow configuration.
    """

    conn_name_attr = "metaflow_conn_id"
    default_conn_name = "metaflow_default"
    conn_type = CONN_TYPE
    hook_name = "Metaflow"

    def __init__(self, metaflow_conn_id: str | None = None) -> None:
        super().__init__()
        self.metaflow_conn_id = metaflow_conn_id
        self._resolved: _Resolved | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form for Airflow 3.1; later versions read the provider info directly."""
        from airflow_provider_metaflow.get_provider_info import get_provider_info

        connection = get_provider_info()["connection-types"][0]
        behaviour = connection["ui-field-behaviour"]
        return {
            "hidden_fields": behaviour["hidden-fields"],
            "relabeling": behaviour["relabeling"],
            "placeholders": behaviour["placeholders"],
        }

    def get_conn(self) -> dict[str, str]:
        return self.metaflow_environment()

    def metaflow_environment(self) -> dict[str, str]:
        """The variables a Metaflow process (a step, the client) needs for this connection.

        Merge them over the worker's own environment when starting a Metaflow process.
        """
        return dict(self._resolve().environment)

    def secret_values(self) -> list[str]:
        """Values that must never appear in logs or files (already masked in Airflow's logs)."""
        return list(self._resolve().secrets)

    def _resolve(self) -> _Resolved:
        if self._resolved is None:
            if self.metaflow_conn_id is None:
                self._resolved = _Resolved()
            else:
                conn = self.get_connection(self.metaflow_conn_id)
                self._resolved = _resolve_connection(conn, self.metaflow_conn_id)
                _mask(self._resolved.secrets)
        return self._resolved


def _resolve_connection(conn: Any, conn_id: str) -> _Resolved:
    """Environment and secrets of one connection; errors never quote a secret field."""
    fields = _ExtraFields(conn.extra_dejson, conn_id)
    resolved = _Resolved()
    for name, value in fields.json_object("environment").items():
        resolved.set(name, value)
    for name, value in fields.json_object("secret_environment").items():
        resolved.set(name, value, secret=True)
    _set_datastore(resolved, fields)
    _set_metadata(resolved, fields, service_url=conn.host or None, auth_key=conn.password or None)
    for extra_name, variable, secret in _PLAIN_FIELDS:
        text = fields.text(extra_name)
        if text:
            resolved.set(variable, text, secret=secret)
    return resolved


def _set_datastore(resolved: _Resolved, fields: _ExtraFields) -> None:
    datastore = fields.text("datastore")
    root = fields.text("datastore_root")
    if root and not datastore:
        datastore = _datastore_of_root(root, fields.conn_id)
    if not datastore:
        return
    if datastore not in DATASTORES:
        raise fields.error("datastore", f"must be one of {', '.join(DATASTORES)}, not {datastore!r}")
    resolved.set("METAFLOW_DEFAULT_DATASTORE", datastore)
    if not root:
        return
    if datastore == "local" and not os.path.isabs(root):
        raise fields.error(
            "datastore_root",
            "must be an absolute folder for the local datastore, shared by every worker and the "
            f"client (got {root!r})",
        )
    resolved.set(f"METAFLOW_DATASTORE_SYSROOT_{datastore.upper()}", root)


def _datastore_of_root(root: str, conn_id: str) -> str:
    for scheme, datastore in _ROOT_SCHEMES.items():
        if root.startswith(scheme):
            return datastore
    if os.path.isabs(root):
        return "local"
    raise AirflowException(
        f"Metaflow connection {conn_id!r}: cannot tell the datastore of datastore_root {root!r}. "
        f"Set the extra field 'datastore' to one of {', '.join(DATASTORES)}."
    )


def _set_metadata(
    resolved: _Resolved, fields: _ExtraFields, *, service_url: str | None, auth_key: str | None
) -> None:
    metadata = fields.text("metadata") or ("service" if service_url else None)
    if metadata:
        if metadata not in METADATA_PROVIDERS:
            raise fields.error(
                "metadata", f"must be one of {', '.join(METADATA_PROVIDERS)}, not {metadata!r}"
            )
        resolved.set("METAFLOW_DEFAULT_METADATA", metadata)
    if service_url:
        resolved.set("METAFLOW_SERVICE_URL", service_url)
    if auth_key:
        resolved.set("METAFLOW_SERVICE_AUTH_KEY", auth_key, secret=True)
    headers = fields.json_object("service_headers")
    if headers:
        resolved.secrets.extend(headers.values())
        resolved.set("METAFLOW_SERVICE_HEADERS", json.dumps(headers), secret=True)


class _ExtraFields:
    """Reads extras as the connection form stores them (plain or ``extra__metaflow__`` keys)."""

    def __init__(self, extra: Mapping[str, Any], conn_id: str) -> None:
        self.extra = extra
        self.conn_id = conn_id

    def raw(self, name: str) -> Any:
        value = self.extra.get(name)
        if value in (None, ""):
            value = self.extra.get(f"extra__{CONN_TYPE}__{name}")
        return None if value == "" else value

    def text(self, name: str) -> str | None:
        value = self.raw(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(name, "must be a string")
        return value.strip() or None

    def json_object(self, name: str) -> dict[str, str]:
        """A JSON object of string values (given as an object or as JSON text)."""
        value = self.raw(name)
        if value is None:
            return {}
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise self.error(name, "is not valid JSON") from None
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self.error(name, 'must be a JSON object of strings, like {"NAME": "value"}')
        bad_names = [key for key in value if name != "service_headers" and not _ENV_NAME.match(key)]
        if bad_names:
            raise self.error(name, f"has names that are not environment variable names: {bad_names}")
        return dict(value)

    def error(self, name: str, problem: str) -> AirflowException:
        return AirflowException(f"Metaflow connection {self.conn_id!r}: extra field {name!r} {problem}.")


def _mask(secrets: list[str]) -> None:
    from airflow.sdk.log import mask_secret

    for secret in secrets:
        mask_secret(secret)
