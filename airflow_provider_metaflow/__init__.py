"""Run Metaflow flows on Apache Airflow.

Public names load on first use (PEP 562), so the compiler and Airflow's provider
discovery can import this package without importing Airflow or Metaflow.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_metaflow.version import __version__

if TYPE_CHECKING:
    from airflow_provider_metaflow.flow import MetaflowFlow
    from airflow_provider_metaflow.hooks.metaflow import MetaflowHook
    from airflow_provider_metaflow.kubernetes.operator import MetaflowKubernetesOperator
    from airflow_provider_metaflow.operators.exit_hook import MetaflowExitHookOperator
    from airflow_provider_metaflow.operators.foreach import MetaflowForeachOperator
    from airflow_provider_metaflow.operators.loop import MetaflowLoopOperator
    from airflow_provider_metaflow.operators.splits import MetaflowSplitsOperator
    from airflow_provider_metaflow.operators.step import MetaflowStepOperator
    from airflow_provider_metaflow.sensors.flow import MetaflowFlowSensor
    from airflow_provider_metaflow.task_group import MetaflowTaskGroup
    from airflow_provider_metaflow.version_compat import cron_timetable

_LAZY_NAMES = {
    "MetaflowFlow": "airflow_provider_metaflow.flow",
    "MetaflowStepOperator": "airflow_provider_metaflow.operators.step",
    "MetaflowForeachOperator": "airflow_provider_metaflow.operators.foreach",
    "MetaflowKubernetesOperator": "airflow_provider_metaflow.kubernetes.operator",
    "MetaflowLoopOperator": "airflow_provider_metaflow.operators.loop",
    "MetaflowExitHookOperator": "airflow_provider_metaflow.operators.exit_hook",
    "MetaflowSplitsOperator": "airflow_provider_metaflow.operators.splits",
    "MetaflowHook": "airflow_provider_metaflow.hooks.metaflow",
    "MetaflowFlowSensor": "airflow_provider_metaflow.sensors.flow",
    "MetaflowTaskGroup": "airflow_provider_metaflow.task_group",
    "cron_timetable": "airflow_provider_metaflow.version_compat",
}

__all__ = [
    "MetaflowExitHookOperator",
    "MetaflowKubernetesOperator",
    "MetaflowSplitsOperator",
    "MetaflowFlow",
    "MetaflowFlowSensor",
    "MetaflowForeachOperator",
    "MetaflowHook",
    "MetaflowLoopOperator",
    "MetaflowStepOperator",
    "MetaflowTaskGroup",
    "__version__",
    "cron_timetable",
]


def lazy_attributes(package: str, names: dict[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A PEP 562 `__getattr__` that imports `names[name]` on first use and caches it in `namespace`."""

    def load(name: str) -> Any:
        module_name = names.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module_name), name)
        namespace[name] = value
        return value

    return load


__getattr__ = lazy_attributes(__name__, _LAZY_NAMES, globals())
