"""FlowPlan -> a TaskGroup module: one factory function that adds the flow's steps to the DAG
being defined, as a MetaflowTaskGroup, for DAGs written by hand (`airflow create --task-group`).

The steps, their wiring, retries and links are exactly those of the generated DAG (render.py
writes both); only the frame differs. The factory's signature does not depend on the flow, so
regenerating the module after a flow change never breaks the DAGs that call it.
"""

from __future__ import annotations

import keyword
import re
import textwrap

from airflow_provider_metaflow.compiler import render, render_triggers
from airflow_provider_metaflow.plan import FlowPlan
from airflow_provider_metaflow.version import __version__

# The names the module and its factory use besides the step variables.
_GROUP_NAMES = frozenset(
    {"os", "Any", "Mapping", "Sequence", "MetaflowTaskGroup", "group", "group_id"}
    | {"parameters", "xcom_artifacts", "task_group_kwargs"}
)


def factory_name(dag_id: str) -> str:
    """The factory's name: the deployment's name (the flow's, or `--name`) in snake case,
    `TrainFlow` -> `train_flow`; the default group id is the same."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", dag_id).lower()
    name = re.sub(r"\W+", "_", snake).strip("_") or "metaflow_flow"
    if name[0].isdigit() or keyword.iskeyword(name):
        name = f"flow_{name}"
    return name


def render_task_group(plan: FlowPlan, module_file: str) -> str:
    """The module's source for `plan`, written to `module_file`."""
    function = factory_name(plan.dag_id)
    names = render.variables(plan, reserved=_GROUP_NAMES | {function})
    flow_path = render.relative_flow_path(plan, module_file)
    body = textwrap.indent("\n".join(render.steps_body(plan, names)), "    ")
    parts = [
        _header(plan, flow_path, uses_datetime="datetime." in body),
        render.flow_definition(
            plan, f"os.path.join(os.path.dirname(os.path.abspath(__file__)), {flow_path!r})"
        ),
        "",
        _factory_open(plan, function),
        body,
        "    return group",
    ]
    return "\n".join(parts) + "\n"


def _header(plan: FlowPlan, flow_path: str, uses_datetime: bool) -> str:
    function = factory_name(plan.dag_id)
    doc = f"{plan.flow_name} as a TaskGroup for your own DAGs: call {function}() inside `with DAG(...)`."
    operators = render.provider_imports(plan, "MetaflowTaskGroup")
    sdk = ["Asset"] if render_triggers.uses_assets(plan) else []
    return "\n".join(
        [
            f"{render.GENERATED_HEADER} {__version__} from {flow_path!r} (flow {plan.flow_name!r}).",
            "# Do not edit: regenerate with `python <flow file> airflow create --task-group <this file>`.",
            f'"""{render.docstring_safe(doc)}"""',
            "",
            "from __future__ import annotations",
            "",
            *(["import datetime"] if uses_datetime else []),
            "import os",
            "from collections.abc import Mapping, Sequence",
            "from typing import Any",
            "",
            *([f"from airflow.sdk import {', '.join(sdk)}", ""] if sdk else []),
            f"from airflow_provider_metaflow import {', '.join(operators)}",
            "",
        ]
    )


def _factory_open(plan: FlowPlan, function: str) -> str:
    end = plan.steps[-1].name
    parameters = "".join(
        f"        {p.name}: {p.json_type or 'any JSON value'}"
        f"{f', default {p.default!r}' if p.has_default else ', required'}\n"
        for p in plan.parameters
    )
    doc = "\n".join(
        [
            f"Add {plan.flow_name}'s steps to the DAG being defined, as one MetaflowTaskGroup: every DAG",
            "    run runs the flow once per group, as its own Metaflow run.",
            "",
            "    group_id: the group's id (task ids are `<group_id>.<step>`); give each group its own.",
            "    parameters: values for the flow's Parameters; templates (`{{ ds }}`) and XComArgs",
            "        (`extract.output`) are resolved when the start step runs, then type-checked.",
            *([parameters.rstrip("\n")] if parameters else ["        (the flow has no Parameters)"]),
            f"    xcom_artifacts: artifacts of the end step ({end!r}) to push to XCom, each under its",
            "        own key, or {step: [artifact, ...]}; read them with group.artifact(name).",
            "    task_group_kwargs: anything TaskGroup takes (tooltip, default_args, ...).",
            "    ",
        ]
    )
    return "\n".join(
        [
            f"def {function}(",
            f"    group_id: str = {function!r},",
            "    parameters: Mapping[str, Any] | None = None,",
            "    xcom_artifacts: Sequence[str] | Mapping[str, Sequence[str]] = (),",
            "    **task_group_kwargs: Any,",
            ") -> MetaflowTaskGroup:",
            f'    """{render.docstring_safe(doc)}"""',
            "    with MetaflowTaskGroup(",
            "        group_id,",
            "        flow=flow,",
            "        parameters=parameters,",
            "        xcom_artifacts=xcom_artifacts,",
            f"        end_step={end!r},",
            "        **task_group_kwargs,",
            "    ) as group:",
        ]
    )
