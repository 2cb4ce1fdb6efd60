"""MetaflowHook: the Metaflow configuration of an Airflow connection."""
