"""Metaflow extension registration.

The `airflow` CLI group replaces Metaflow's core one (an extension's plugin of the same name
wins). Nothing here imports Airflow: an import error in an extension disables every
Metaflow plugin.
"""

CLIS_DESC = [("airflow", ".airflow_cli.cli")]
