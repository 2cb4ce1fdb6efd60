"""The compiler: a Metaflow flow -> FlowPlan -> DAG source. Runs on the author's machine at
`airflow create`; imports Metaflow, never Airflow."""
