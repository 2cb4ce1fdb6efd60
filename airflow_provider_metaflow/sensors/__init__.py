"""MetaflowFlowSensor and the run query it sends to a Metaflow child process.

Kept free of imports: `python -m airflow_provider_metaflow.sensors.run_query` loads this package in
a process that must not import Airflow.
"""
