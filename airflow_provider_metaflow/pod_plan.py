"""PodPlan: a frozen, JSON-serialisable description of the pod one Metaflow step runs in.

The compiler resolves a step's @kubernetes, @resources, @environment and @timeout (with the
author's Metaflow configuration filling the defaults) into a PodPlan; the Airflow side turns
a PodPlan into KubernetesPodOperator arguments. The plan holds decorator meaning in Metaflow's
units (MB, MiB, seconds), names of Kubernetes Secrets but never their values, and no command:
the operator builds the step's command. Nothing here imports Metaflow, Airflow or Kubernetes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

POD_PLAN_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Toleration:
    """One Kubernetes toleration, with the Kubernetes client's (snake_case) field names."""

    key: str | None = None
    operator: str | None = None  # Equal or Exists; Kubernetes reads None as Equal
    value: str | None = None
    effect: str | None = None  # NoSchedule, PreferNoSchedule, NoExecute; None matches all
    toleration_seconds: int | None = None  # only with effect NoExecute


@dataclass(frozen=True)
class VolumeClaim:
    """A PersistentVolumeClaim mounted into the step's container."""

    claim: str
    mount_path: str


@dataclass(frozen=True)
class Tmpfs:
    """@kubernetes(use_tmpfs=...): a memory-backed volume mounted at `path`."""

    path: str
    size_mib: int


@dataclass(frozen=True)
class PodPlan:
    """Everything about a step's pod that the flow decides, and nothing that is a secret.

    cpu is in cores, memory_mb and disk_mb in megabytes (Metaflow's units, sent to Kubernetes
    with the `M` suffix as Metaflow does), shared_memory_mib and tmpfs sizes in MiB.
    """

    image: str
    namespace: str
    cpu: float
    memory_mb: float
    disk_mb: float
    qos: str = "Burstable"  # Burstable: requests only; Guaranteed: limits equal to requests
    gpu: int | None = None  # None: no GPU limit at all; 0: an explicit limit of zero
    gpu_vendor: str = "nvidia"  # the limit is named "<vendor>.com/gpu"
    extended_resources: dict[str, str] = field(default_factory=dict)  # requested and limited as given
    executable: str = "python"  # the interpreter inside the image that runs the step
    image_pull_policy: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    service_account: str | None = None
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    shared_memory_mib: int | None = None  # a memory-backed volume at /dev/shm
    tmpfs: Tmpfs | None = None
    volume_claims: tuple[VolumeClaim, ...] = ()
    # Container security context, V1SecurityContext's snake_case fields (nested ones as dicts).
    security_context: dict[str, Any] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()  # Kubernetes Secret names, every key exposed as an env var
    port: int | None = None
    env: dict[str, str] = field(default_factory=dict)  # @environment vars (and METAFLOW_TEMPDIR)
    timeout_seconds: int | None = None  # @timeout, None without one
    active_deadline_seconds: int = 5 * 24 * 60 * 60  # the pod's limit: @timeout or Metaflow's default
    startup_timeout_seconds: int = 60 * 60  # how long the pod may take to start (image pulls)
    schema_version: int = POD_PLAN_SCHEMA_VERSION

    @property
    def execution_timeout_seconds(self) -> int | None:
        """A bound for the Airflow task: the step's @timeout plus the time a pod may take to start."""
        if self.timeout_seconds is None:
            return None
        return self.timeout_seconds + self.startup_timeout_seconds

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PodPlan:
        data = dict(data)
        version = data.get("schema_version")
        if version != POD_PLAN_SCHEMA_VERSION:
            raise ValueError(
                f"PodPlan schema version {version!r} is not supported (this provider reads version "
                f"{POD_PLAN_SCHEMA_VERSION}); regenerate the DAG with `airflow create`."
            )
        tmpfs = data.pop("tmpfs", None)
        return cls(
            image_pull_secrets=tuple(data.pop("image_pull_secrets", ())),
            tolerations=tuple(Toleration(**item) for item in data.pop("tolerations", ())),
            tmpfs=Tmpfs(**tmpfs) if tmpfs is not None else None,
            volume_claims=tuple(VolumeClaim(**item) for item in data.pop("volume_claims", ())),
            secrets=tuple(data.pop("secrets", ())),
            **data,
        )

    @classmethod
    def from_json(cls, text: str) -> PodPlan:
        return cls.from_dict(json.loads(text))
