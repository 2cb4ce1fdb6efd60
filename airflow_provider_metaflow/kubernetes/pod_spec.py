"""PodPlan -> KubernetesPodOperator keyword arguments, as Kubernetes client models.

The pod is the one Metaflow's own @kubernetes would create for the step: the same resource
quantities (memory and disk in `M`, tmpfs and shared memory in `Mi`), the same volume names,
Secrets as envFrom references, and the downward-API variables Metaflow's decorator reads
inside the pod. The command is not decided here: the operator adds `cmds`/`arguments`.
Imported only where a pod step is parsed or run.
"""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal
from typing import Any

from kubernetes.client import models as k8s

from airflow_provider_metaflow.pod_plan import PodPlan

TMPFS_VOLUME = "tmpfs-ephemeral-volume"
SHARED_MEMORY_VOLUME = "dhsm"
SHARED_MEMORY_PATH = "/dev/shm"
_DNS_LABEL = re.compile(r"\A[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")

# Pod facts that Metaflow's @kubernetes records as task metadata when it runs in a pod.
POD_FIELD_ENV = {
    "METAFLOW_KUBERNETES_NAMESPACE": "metadata.namespace",
    "METAFLOW_KUBERNETES_POD_NAMESPACE": "metadata.namespace",
    "METAFLOW_KUBERNETES_POD_NAME": "metadata.name",
    "METAFLOW_KUBERNETES_POD_ID": "metadata.uid",
    "METAFLOW_KUBERNETES_SERVICE_ACCOUNT_NAME": "spec.serviceAccountName",
    "METAFLOW_KUBERNETES_NODE_IP": "status.hostIP",
}

_SECURITY_CONTEXT_MODELS: dict[str, type] = {
    "capabilities": k8s.V1Capabilities,
    "seccomp_profile": k8s.V1SeccompProfile,
    "se_linux_options": k8s.V1SELinuxOptions,
    "app_armor_profile": k8s.V1AppArmorProfile,
    "windows_options": k8s.V1WindowsSecurityContextOptions,
}


def pod_operator_kwargs(plan: PodPlan) -> dict[str, Any]:
    """Keyword arguments for KubernetesPodOperator that give the step the pod its plan describes.

    Leaves out what the operator decides: task_id, cmds, arguments and the cluster connection.
    """
    requests, limits = resource_quantities(plan)
    volumes, mounts = volumes_and_mounts(plan)
    return {
        "image": plan.image,
        "namespace": plan.namespace,
        "image_pull_policy": plan.image_pull_policy,
        "image_pull_secrets": [k8s.V1LocalObjectReference(name=name) for name in plan.image_pull_secrets],
        "service_account_name": plan.service_account,
        "node_selector": dict(plan.node_selector),
        "tolerations": [
            k8s.V1Toleration(**dataclasses.asdict(toleration)) for toleration in plan.tolerations
        ],
        "labels": dict(plan.labels),
        "annotations": dict(plan.annotations),
        "container_resources": k8s.V1ResourceRequirements(requests=requests, limits=limits or None),
        "volumes": volumes,
        "volume_mounts": mounts,
        "env_vars": env_vars(plan),
        "env_from": [
            k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=name)) for name in plan.secrets
        ],
        "container_security_context": security_context(plan.security_context),
        "ports": [k8s.V1ContainerPort(container_port=plan.port)] if plan.port is not None else [],
        "active_deadline_seconds": plan.active_deadline_seconds,
        "startup_timeout_seconds": plan.startup_timeout_seconds,
        # A step that dies before writing its termination message still says why (as in Metaflow).
        "termination_message_policy": "FallbackToLogsOnError",
    }


def quantity(number: float) -> str:
    """A plain decimal (no exponent, no trailing zeros), which Kubernetes reads as a quantity."""
    text = format(Decimal(repr(number)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def resource_quantities(plan: PodPlan) -> tuple[dict[str, str], dict[str, str]]:
    """Requests and limits, as Metaflow sets them for each QoS class.

    Burstable requests cpu, memory and disk; Guaranteed also limits them to the same amounts.
    GPUs are limited (Kubernetes requests what is limited); extended resources go in both.
    """
    sizes = {
        "cpu": quantity(plan.cpu),
        "memory": f"{quantity(plan.memory_mb)}M",
        "ephemeral-storage": f"{quantity(plan.disk_mb)}M",
    }
    requests = {**sizes, **plan.extended_resources}
    limits = {**(sizes if plan.qos == "Guaranteed" else {}), **plan.extended_resources}
    if plan.gpu is not None:
        limits[f"{plan.gpu_vendor.lower()}.com/gpu"] = str(plan.gpu)
    return requests, limits


def volumes_and_mounts(plan: PodPlan) -> tuple[list[k8s.V1Volume], list[k8s.V1VolumeMount]]:
    volumes: list[k8s.V1Volume] = []
    mounts: list[k8s.V1VolumeMount] = []
    if plan.tmpfs is not None:
        volumes.append(_memory_volume(TMPFS_VOLUME, plan.tmpfs.size_mib))
        mounts.append(k8s.V1VolumeMount(name=TMPFS_VOLUME, mount_path=plan.tmpfs.path))
    if plan.shared_memory_mib:
        volumes.append(_memory_volume(SHARED_MEMORY_VOLUME, plan.shared_memory_mib))
        mounts.append(k8s.V1VolumeMount(name=SHARED_MEMORY_VOLUME, mount_path=SHARED_MEMORY_PATH))
    for index, claim in enumerate(plan.volume_claims):
        # Metaflow names the volume after its claim; claim names may hold dots, volume names not.
        usable = _DNS_LABEL.match(claim.claim) and claim.claim not in (TMPFS_VOLUME, SHARED_MEMORY_VOLUME)
        name = claim.claim if usable else f"pvc-{index}"
        volumes.append(
            k8s.V1Volume(
                name=name,
                persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name=claim.claim),
            )
        )
        mounts.append(k8s.V1VolumeMount(name=name, mount_path=claim.mount_path))
    return volumes, mounts


def _memory_volume(name: str, size_mib: int) -> k8s.V1Volume:
    return k8s.V1Volume(
        name=name, empty_dir=k8s.V1EmptyDirVolumeSource(medium="Memory", size_limit=f"{size_mib}Mi")
    )


def env_vars(plan: PodPlan) -> list[k8s.V1EnvVar]:
    """The plan's variables, then the pod facts Metaflow's @kubernetes reads (downward API)."""
    given = [k8s.V1EnvVar(name=name, value=value) for name, value in plan.env.items()]
    facts = [
        k8s.V1EnvVar(
            name=name,
            value_from=k8s.V1EnvVarSource(field_ref=k8s.V1ObjectFieldSelector(field_path=path)),
        )
        for name, path in POD_FIELD_ENV.items()
        if name not in plan.env
    ]
    return given + facts


def security_context(fields: dict[str, Any]) -> k8s.V1SecurityContext | None:
    if not fields:
        return None
    converted = {
        key: _SECURITY_CONTEXT_MODELS[key](**value)
        if key in _SECURITY_CONTEXT_MODELS and value is not None
        else value
        for key, value in fields.items()
    }
    return k8s.V1SecurityContext(**converted)
