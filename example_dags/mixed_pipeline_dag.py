"""A hand-written DAG that mixes Airflow's own operators with the steps of a Metaflow flow.

    prepare_input (Bash) >> start >> score >> end (Metaflow ScoreFlow) >> report (Python)
                                                              cleanup (Bash, teardown)

The Metaflow steps are ordinary tasks: they take Airflow retries, pools and dependencies like
any other. Each one pushes its Metaflow pathspec to XCom under the key "pathspec".
"""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Param

from airflow_provider_metaflow import MetaflowFlow, MetaflowStepOperator

# The flow file is relative to this file's folder, so dags/ and dags/flows/ deploy together.
# `parameters` lists the DAG params that become the flow's Parameters: only `threshold`.
# `rows` is a DAG param for the shell task alone; ScoreFlow has no such Parameter.
score_flow = MetaflowFlow("ScoreFlow", file="flows/score_flow.py", parameters=["threshold"])

# Writes a small CSV into a fresh temporary folder and prints its path as the last line,
# which BashOperator pushes to XCom. Several workers need a shared filesystem for this; there,
# write to object storage instead and pass the URL the same way.
PREPARE_INPUT = """
set -eu
folder=$(mktemp -d "${TMPDIR:-/tmp}/score-input.XXXXXX")
{
  echo "id,value"
  for i in $(seq 1 {{ params.rows }}); do echo "$i,$(( (i * 37) % 101 ))"; done
} > "$folder/readings.csv"
echo "$folder/readings.csv"
"""

# Removes only that file and its (then empty) folder; rmdir never deletes anything else.
CLEANUP_INPUT = """
path="{{ ti.xcom_pull(task_ids='prepare_input') }}"
if [ -f "$path" ]; then rm -f -- "$path" && rmdir -- "$(dirname -- "$path")"; fi
"""

INPUT_PATH = "{{ ti.xcom_pull(task_ids='prepare_input') }}"


def report_scores(ti: Any) -> dict[str, Any]:
    """Read the flow's result with the Metaflow client, from the pathspec the `end` task pushed."""
    # Imported here, not at the top: parsing this file must not import Metaflow.
    from metaflow import Task, namespace

    namespace(None)  # the steps ran as METAFLOW_USER, maybe not the user reading here
    pathspec = ti.xcom_pull(task_ids="end", key="pathspec")
    summary = Task(pathspec, _namespace_check=False)["summary"].data
    print(f"{pathspec}: {summary['passed']} of {summary['readings']} readings pass {summary['threshold']}")
    return summary  # the return value goes to XCom for downstream tasks


with DAG(
    dag_id="mixed_pipeline",
    schedule=None,
    catchup=False,
    doc_md=__doc__,
    params={
        "rows": Param(8, type="integer", minimum=1, maximum=1000, description="Readings to generate."),
        "threshold": Param(0.5, type="number", description="ScoreFlow's threshold Parameter."),
    },
    tags=["metaflow", "example"],
) as dag:
    prepare_input = BashOperator(task_id="prepare_input", bash_command=PREPARE_INPUT)

    # Parameter values reach a flow only through its start task, from the DAG params.
    # The per-run input path is not a DAG param, so it goes in through the (templated) `env`
    # of start; the flow reads it there and keeps the readings as an artifact.
    start = MetaflowStepOperator(
        task_id="start", flow=score_flow, step="start", env={"SCORE_INPUT_CSV": INPUT_PATH}
    )
    score = MetaflowStepOperator(task_id="score", flow=score_flow, step="score", inputs=["start"])
    end = MetaflowStepOperator(task_id="end", flow=score_flow, step="end", inputs=["score"])

    report = PythonOperator(task_id="report", python_callable=report_scores)

    # A teardown runs even when a task above fails, and does not decide the DAG run's state.
    cleanup = BashOperator(task_id="cleanup", bash_command=CLEANUP_INPUT)

    prepare_input >> start >> score >> end >> report >> cleanup.as_teardown(setups=prepare_input)
