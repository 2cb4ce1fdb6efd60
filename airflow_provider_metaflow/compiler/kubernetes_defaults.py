"""The author's METAFLOW_KUBERNETES_* configuration, applied as Metaflow's @kubernetes init() does.

Read at `create`, on the author's machine, so the DAG file records the values the author's
own `run --with kubernetes` would use; the Airflow workers' configuration does not change them.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

DEFAULT_RUN_TIME_LIMIT = 5 * 24 * 60 * 60  # Metaflow's DEFAULT_RUNTIME_LIMIT
DEFAULT_STARTUP_TIMEOUT = 60 * 60  # Metaflow's AIRFLOW_KUBERNETES_STARTUP_TIMEOUT_SECONDS

# Attributes whose configured value replaces an empty decorator value.
_FILLED_WHEN_EMPTY = (
    "namespace",
    "service_account",
    "gpu_vendor",
    "node_selector",
    "tolerations",
    "persistent_volume_claims",
    "image_pull_policy",
    "image_pull_secrets",
    "shared_memory",
    "port",
    "image",
)
# Attributes whose configured value replaces the decorator's own default.
_FILLED_WHEN_DEFAULT = ("cpu", "memory", "disk", "qos")


@dataclass(frozen=True)
class KubernetesDefaults:
    """Metaflow's configuration for @kubernetes, raw (strings, JSON text) as Metaflow holds it."""

    namespace: str | None = "default"
    service_account: str | None = None
    gpu_vendor: str | None = "nvidia"
    node_selector: Any = ""  # "k=v,k2=v2"
    tolerations: Any = ""  # JSON list
    persistent_volume_claims: Any = ""  # JSON object
    image_pull_policy: str | None = None
    image_pull_secrets: Any = ""  # JSON list
    cpu: Any = None
    memory: Any = None
    disk: Any = None
    labels: Any = ""  # "k=v,k2"
    annotations: Any = ""
    image: str | None = None  # KUBERNETES_CONTAINER_IMAGE, else DEFAULT_CONTAINER_IMAGE
    registry: str | None = None  # KUBERNETES_CONTAINER_REGISTRY, else DEFAULT_CONTAINER_REGISTRY
    shared_memory: Any = None
    port: Any = None
    qos: str | None = "burstable"
    secrets: Any = ""  # comma-separated Secret names mounted into every pod
    run_time_limit: Any = DEFAULT_RUN_TIME_LIMIT
    startup_timeout_seconds: Any = DEFAULT_STARTUP_TIMEOUT
    # The default image is python:<major.minor> of the interpreter that compiles the flow.
    python_version: str = field(default_factory=lambda: ".".join(platform.python_version_tuple()[:2]))

    @classmethod
    def from_config(cls, values: Mapping[str, Any]) -> KubernetesDefaults:
        """From Metaflow's configuration by field name (the deploy adapter's kubernetes_config());
        unset names keep the defaults above."""
        known = {field.name for field in fields(cls)}
        return cls(**{name: value for name, value in values.items() if name in known})


def config_name(attribute: str) -> str:
    """The Metaflow configuration name (environment variable) behind a default."""
    special = {
        "image": "KUBERNETES_CONTAINER_IMAGE",
        "registry": "KUBERNETES_CONTAINER_REGISTRY",
        "run_time_limit": "DEFAULT_RUNTIME_LIMIT",
        "startup_timeout_seconds": "AIRFLOW_KUBERNETES_STARTUP_TIMEOUT_SECONDS",
    }
    return "METAFLOW_" + special.get(attribute, "KUBERNETES_" + attribute.upper())


def fill_from_config(
    attrs: dict[str, Any], class_defaults: dict[str, Any], config: KubernetesDefaults
) -> dict[str, str]:
    """Metaflow's init(), on a copy of the attributes: empty (or still default) ones take the
    configured value. Applying it twice changes nothing, so attributes Metaflow's CLI already
    initialised come out the same. Returns attribute -> configuration name, for messages."""
    sources: dict[str, str] = {}

    def take(attribute: str, unset: bool) -> None:
        value = getattr(config, attribute)
        if unset and value not in (None, ""):
            attrs[attribute] = value
            sources[attribute] = config_name(attribute)

    for attribute in _FILLED_WHEN_EMPTY:
        take(attribute, not attrs.get(attribute))
    for attribute in _FILLED_WHEN_DEFAULT:
        take(attribute, not attrs.get(attribute) or attrs[attribute] == class_defaults.get(attribute))
    if not attrs.get("image"):
        attrs["image"] = f"python:{config.python_version}"
    return sources
