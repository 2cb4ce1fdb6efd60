"""Run-time pieces shared by the Airflow side and the backends: ids, attempts, command lines.

Modules here import neither Airflow nor (at module level) Metaflow.
"""
