"""Airflow operators that run Metaflow steps."""
