"""Load flows the way `python flow.py [--with ...] airflow create` does; print every step's PodPlan.

Runs Metaflow's own CLI entry point (`start`: it attaches `--with` and METAFLOW_DECOSPECS
decorators and initialises every decorator, @kubernetes' init() and step_init() included) with
one extra command that hands the graph the CLI built to the compiler, as `airflow create` does.

    python load_pod_plans.py FLOW_FILE [FLOW_FILE ...] [-- TOP-LEVEL METAFLOW OPTIONS ...]

Prints {flow file: {"plans": {step: PodPlan dict or null}, "problems": [text, ...]}} as JSON.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import metaflow.cli as metaflow_cli  # noqa: TID251 - tests use Metaflow internals
from metaflow._vendor import click  # noqa: TID251 - tests use Metaflow internals
from metaflow.flowspec import FlowSpec  # noqa: TID251 - tests use Metaflow internals

from airflow_provider_metaflow.compiler.errors import Problem
from airflow_provider_metaflow.compiler.kubernetes import KubernetesDefaults, pod_plan
from metaflow_extensions.airflow_provider_metaflow.plugins import metaflow_deploy_adapter

_RESULTS: dict[str, Any] = {}


@metaflow_cli.cli.command(name="pod-plans", help="Print each step's PodPlan (tests only).")
@click.pass_obj
def pod_plans(obj: Any) -> None:
    problems: list[Problem] = []
    plans = {}
    defaults = KubernetesDefaults.from_config(metaflow_deploy_adapter.kubernetes_config())
    for node in obj.graph:
        plan = pod_plan(
            node,
            problems,
            flow_name=obj.graph.name,
            defaults=defaults,
            image_registry=metaflow_deploy_adapter.image_registry,
        )
        plans[node.name] = plan.to_dict() if plan is not None else None
    _RESULTS[obj.graph.name] = {"plans": plans, "problems": [str(p) for p in problems]}


def _flow_class(path: Path, index: int) -> type[FlowSpec]:
    spec = importlib.util.spec_from_file_location(f"flow_under_test_{index}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    flows = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, FlowSpec) and value.__module__ == module.__name__
    ]
    assert len(flows) == 1, f"{path} must define exactly one flow"
    return flows[0]


def main(argv: list[str]) -> None:
    files, options = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    output = {}
    for index, name in enumerate(files):
        path = Path(name).resolve()
        flow = _flow_class(path, index)
        args = ["--quiet", "--no-pylint", *options, "pod-plans"]
        metaflow_cli.main(
            flow(use_cli=False), args=args, handle_exceptions=False, entrypoint=[sys.executable, str(path)]
        )
        output[name] = _RESULTS.pop(flow.__name__)
    print(json.dumps(output))


if __name__ == "__main__":
    main(sys.argv[1:])
