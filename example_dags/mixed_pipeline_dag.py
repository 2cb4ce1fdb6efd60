"""A hand-written DAG with a Metaflow flow inside it, between Airflow's own operators.

    prepare_input (Bash) >> score (ScoreFlow as a TaskGroup: start >> score >> end) >> report (Python)
                                                                  cleanup (Bash, teardown)

`score_group.py` next to this file is generated from the flow with
`python flows/score_flow.py airflow create --task-group score_group.py`. Its factory adds the
flow's steps as a TaskGroup: each DAG run runs the flow once, as its own Metaflow run. The shell
task's XCom becomes the flow's `input_csv` Parameter, a template becomes its `threshold`, and the
end step pushes its `summary` artifact to XCom for the report task, which imports no Metaflow.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Param
from score_group import score_flow

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


def report_scores(summary: dict[str, Any]) -> dict[str, Any]:
    """The flow's `summary` artifact, straight from XCom: no Metaflow client needed."""
    print(f"{summary['passed']} of {summary['readings']} readings pass {summary['threshold']}")
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

    # An XComArg and a template, resolved when the flow's start step runs, then checked against
    # the flow's Parameter types (input_csv is text, threshold a float).
    score = score_flow(
        group_id="score",
        parameters={"input_csv": prepare_input.output, "threshold": "{{ params.threshold }}"},
        xcom_artifacts=["summary"],
    )

    report = PythonOperator(
        task_id="report", python_callable=report_scores, op_args=[score.artifact("summary")]
    )

    # A teardown runs even when a task above fails, and does not decide the DAG run's state.
    cleanup = BashOperator(task_id="cleanup", bash_command=CLEANUP_INPUT)

    prepare_input >> score >> report >> cleanup.as_teardown(setups=prepare_input)
