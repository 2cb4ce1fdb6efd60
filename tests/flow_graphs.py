"""The graph facts of a flow file, from the graph Metaflow builds when the flow class is defined."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from metaflow_extensions.airflow_provider_metaflow.plugins.wiring import GraphNode, graph_nodes


def flow_graph_nodes(flow_file: Path) -> dict[str, GraphNode]:
    spec = importlib.util.spec_from_file_location(f"flow_graph_{flow_file.stem}", flow_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (flow,) = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and value.__module__ == module.__name__ and hasattr(value, "_graph")
    ]
    flow_class: Any = flow
    return graph_nodes(flow_class._graph)
