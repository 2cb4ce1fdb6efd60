"""Which execution backends exist, which operator a DAG file uses for each, and where the
backend's code is. Plain data: the renderer reads it at `create`, the engine at task time, and
neither imports a backend until a step runs on it."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from airflow_provider_metaflow.backends.base import BackendFactory

LOCAL = "local"
KUBERNETES = "kubernetes"


@dataclass(frozen=True)
class BackendEntry:
    name: str
    # "module:attribute" of the BackendFactory (a StepBackend class taking the TrySite).
    implementation: str
    # The operator class a DAG file uses for a step on this backend. None: the provider's own
    # step operators (MetaflowStepOperator, ...Foreach..., ...Loop...) with `backend=NAME`.
    operator: str | None = None
    # Whether the step reads the flow file on the worker (a pod runs from the code package).
    flow_file_on_worker: bool = True


BACKENDS: dict[str, BackendEntry] = {
    entry.name: entry
    for entry in (
        BackendEntry(LOCAL, "airflow_provider_metaflow.backends.local:LocalStepBackend"),
        BackendEntry(
            KUBERNETES,
            "airflow_provider_metaflow.kubernetes.backend:PodStepBackend",
            operator="MetaflowKubernetesOperator",
            flow_file_on_worker=False,
        ),
    )
}


def backend_entry(name: str) -> BackendEntry:
    try:
        return BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise ValueError(
            f"Unknown execution backend {name!r}: this provider has {known}. Regenerate the DAG with "
            "`airflow create`, or upgrade airflow-provider-metaflow on the workers."
        ) from None


def load_backend(name: str) -> BackendFactory:
    """The factory of a backend, imported now (at task time, never while a DAG file is parsed)."""
    module_name, attribute = backend_entry(name).implementation.split(":")
    factory: BackendFactory = getattr(importlib.import_module(module_name), attribute)
    return factory
