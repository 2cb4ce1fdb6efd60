"""The author's METAFLOW_KUBERNETES_* configuration, applied as Metaflow's @kubernetes init() does.

Read at `create`, on the author's machine, so the DAG file records the values the author's
own `run --with kubernetes` would use; the Airflow workers' configuration does not change them.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
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
    def from_metaflow_config(cls) -> KubernetesDefaults:
        """Metaflow's configuration: environment variables, then ~/.metaflowconfig (METAFLOW_HOME)."""
        from metaflow import metaflow_config as config

        return cls(
            namespace=config.KUBERNETES_NAMESPACE,
            service_account=config.KUBERNETES_SERVICE_ACCOUNT,
            gpu_vendor=config.KUBERNETES_GPU_VENDOR,
            node_selector=config.KUBERNETES_NODE_SELECTOR,
            tolerations=config.KUBERNETES_TOLERATIONS,
            persistent_volume_claims=config.KUBERNETES_PERSISTENT_VOLUME_CLAIMS,
            image_pull_policy=config.KUBERNETES_IMAGE_PULL_POLICY,
            image_pull_secrets=config.KUBERNETES_IMAGE_PULL_SECRETS,
            cpu=config.KUBERNETES_CPU,
            memory=config.KUBERNETES_MEMORY,
            disk=config.KUBERNETES_DISK,
            labels=config.KUBERNETES_LABELS,
            annotations=config.KUBERNETES_ANNOTATIONS,
            image=config.KUBERNETES_CONTAINER_IMAGE,
            registry=config.KUBERNETES_CONTAINER_REGISTRY,
            shared_memory=config.KUBERNETES_SHARED_MEMORY,
            port=config.KUBERNETES_PORT,
            qos=config.KUBERNETES_QOS,
            secrets=config.KUBERNETES_SECRETS,
            run_time_limit=config.DEFAULT_RUNTIME_LIMIT,
            startup_timeout_seconds=config.AIRFLOW_KUBERNETES_STARTUP_TIMEOUT_SECONDS,
        )


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
