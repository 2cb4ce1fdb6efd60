"""MetaflowStepOperator: one Airflow task runs one Metaflow task, with Metaflow's own CLI."""

from __future__ import annotations

from airflow_provider_metaflow.operators.base import MetaflowStepBase


class MetaflowStepOperator(MetaflowStepBase):
    """Run one Metaflow step of one run; as a local child process unless ``backend`` names
    another execution backend. Takes MetaflowStepBase's arguments."""

    ui_color = "#eaf4fc"
