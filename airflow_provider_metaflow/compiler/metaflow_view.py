"""What the compiler needs to know of a flow beyond its graph, stated as a protocol.

The graph and the decorator objects (`node.decorators`, `deco.attributes`) are read directly:
they are what Metaflow hands every scheduler. Everything that needs Metaflow's internals comes
through a MetaflowView, which `airflow create` passes in: the extension's
`metaflow_deploy_adapter` module is the implementation. So the compiler imports nothing of the
extension, and the extension's CLI is the only caller that ties the two together.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol


class MetaflowView(Protocol):
    def flow_decorators(self, flow: Any) -> Iterable[Any]: ...

    def project_identity(self) -> tuple[str | None, str | None]: ...

    def flow_configs(self, flow: Any) -> dict[str, Any]: ...

    def flow_parameters(self, flow: Any) -> list[Any]: ...

    def is_json_parameter(self, parameter: Any) -> bool: ...

    def is_include_file(self, parameter: Any) -> bool: ...

    def deploy_time_value(self, value: Any) -> Any: ...

    def trigger_specs(self, decorator: Any) -> list[Any]: ...

    def kubernetes_config(self) -> dict[str, Any]: ...

    def image_registry(self, image: str) -> str | None: ...
