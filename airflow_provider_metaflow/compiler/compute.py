"""Which execution backend a step runs on, and that backend's settings, from its decorators.

A step without a compute decorator runs as a local process (`local`). `@kubernetes` makes it a
pod: its settings are a PodPlan (compiler.kubernetes), read with the author's Metaflow
configuration. A new backend adds its decorator to COMPUTE_DECORATORS (compiler.steps) and its
settings to `ComputePlanner.plan` (as `options`, which reach the operator as `backend_options`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_provider_metaflow.backends.registry import LOCAL
from airflow_provider_metaflow.compiler.errors import Problem
from airflow_provider_metaflow.compiler.kubernetes import KubernetesDefaults, pod_plan
from airflow_provider_metaflow.compiler.metaflow_view import MetaflowView
from airflow_provider_metaflow.compiler.steps import COMPUTE_DECORATORS
from airflow_provider_metaflow.pod_plan import PodPlan


@dataclass(frozen=True)
class Compute:
    backend: str = LOCAL
    pod: PodPlan | None = None  # the kubernetes backend's settings
    options: dict[str, Any] = field(default_factory=dict)  # any other backend's settings (JSON)


class ComputePlanner:
    """Backends and their settings for a flow's steps; the author's configuration is read once."""

    def __init__(self, flow_name: str, metaflow: MetaflowView) -> None:
        self._flow_name = flow_name
        self._metaflow = metaflow
        self._kubernetes_defaults: KubernetesDefaults | None = None

    def plan(self, node: Any, recursive: bool, problems: list[Problem]) -> Compute:
        chosen = next((deco.name for deco in node.decorators if deco.name in COMPUTE_DECORATORS), None)
        if chosen is None:
            return Compute()
        if recursive:
            problems.append(
                Problem(
                    f"step {node.name!r} @{chosen}",
                    "is on a recursive step, which runs all its iterations in one Airflow task on the "
                    "worker.",
                    f"Remove @{chosen} from this step (other steps may keep it), or move the loop's "
                    "heavy work into a step after it.",
                )
            )
        return Compute(COMPUTE_DECORATORS[chosen], pod=self._pod(node, problems))

    def _pod(self, node: Any, problems: list[Problem]) -> PodPlan | None:
        if self._kubernetes_defaults is None:
            self._kubernetes_defaults = KubernetesDefaults.from_config(self._metaflow.kubernetes_config())
        return pod_plan(
            node,
            problems,
            flow_name=self._flow_name,
            defaults=self._kubernetes_defaults,
            image_registry=self._metaflow.image_registry,
        )
