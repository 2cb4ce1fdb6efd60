"""The client side of a deployment: where an Airflow deployment is, and its REST API, for the
lifecycle commands (`python flow.py airflow trigger|status|list-runs|terminate|delete`). Runs
where the user runs Metaflow, never in Airflow's processes."""
