"""Where a step's Metaflow run lives: datastore, metadata, environment.

Resolved once per Airflow task from the worker's Metaflow configuration (environment
variables, ~/.metaflowconfig) and passed explicitly to every Metaflow command, so the
step, its logs and the foreach cardinality read all agree on one datastore root.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class MetaflowSettings:
    datastore: str
    datastore_root: str
    metadata: str
    environment: str

    def child_environment(self) -> dict[str, str]:
        """Defaults that make child Metaflow processes (and their clients) agree on the root."""
        if self.datastore == "local":
            # LocalStorage appends '.metaflow' to the sysroot; the client needs the same root.
            return {"METAFLOW_DATASTORE_SYSROOT_LOCAL": os.path.dirname(self.datastore_root)}
        return {}


def resolve_settings(flow_dir: str) -> MetaflowSettings:
    """Read the worker's Metaflow config. Without a configured local root, Metaflow's own rule
    applies from the flow's folder: the nearest '.metaflow' above it, created there if none."""
    from metaflow.metaflow_config import (
        DEFAULT_DATASTORE,
        DEFAULT_ENVIRONMENT,
        DEFAULT_METADATA,
    )
    from metaflow.plugins import DATASTORES

    storage = next((impl for impl in DATASTORES if impl.TYPE == DEFAULT_DATASTORE), None)
    if storage is None:
        raise ValueError(
            f"METAFLOW_DEFAULT_DATASTORE={DEFAULT_DATASTORE!r} is not a datastore this Metaflow "
            f"installation knows ({', '.join(impl.TYPE for impl in DATASTORES)})."
        )
    previous_cwd = os.getcwd()
    os.chdir(flow_dir)
    try:
        root = storage.get_datastore_root_from_config(lambda *args, **kwargs: None)
    finally:
        os.chdir(previous_cwd)
    if root is None:
        raise ValueError(
            f"No datastore root is configured for the {DEFAULT_DATASTORE!r} datastore. Set "
            f"METAFLOW_DATASTORE_SYSROOT_{DEFAULT_DATASTORE.upper()} in the worker's environment "
            "or Metaflow config."
        )
    return MetaflowSettings(
        datastore=DEFAULT_DATASTORE,
        datastore_root=os.path.abspath(root) if DEFAULT_DATASTORE == "local" else root,
        metadata=DEFAULT_METADATA,
        environment=DEFAULT_ENVIRONMENT,
    )
