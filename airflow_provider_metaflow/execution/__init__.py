"""The Airflow side at task time: one try of a Metaflow step operator (the engine), and what it
reads from Airflow (XCom, the triggering Asset events). Imported only when a task runs."""
