"""Metaflow extension registration.

The `airflow` CLI group replaces Metaflow's core one (an extension's plugin of the same name
wins). The internal step decorator is attached by Airflow tasks with `--with
airflow_provider_internal`. The `airflow` deployer gives Metaflow's Deployer API
`Deployer(...).airflow()`. Nothing here imports Airflow: an import error in an extension
disables every Metaflow plugin.
"""

CLIS_DESC = [("airflow", ".airflow_cli.cli")]
STEP_DECORATORS_DESC = [("airflow_provider_internal", ".task_decorator.AirflowProviderInternalDecorator")]
DEPLOYER_IMPL_PROVIDERS_DESC = [("airflow", ".airflow_deployer.AirflowDeployer")]
