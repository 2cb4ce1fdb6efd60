"""Compile the example flow into an Airflow DAG, run it through Airflow, and check it against
Metaflow's own runtime.

    python example_dags/run_demo.py [--verbose] [--set genre=drama ...]

Everything goes under .demo/ at the repository root (wiped first): an Airflow home with a
SQLite database, a dags folder, a flows folder and a Metaflow local datastore. No scheduler,
cluster or network is needed: the DAG runs in this process with Airflow's dag.test().
Exits non-zero if the DAG run fails or its artifacts differ from `python flow.py run`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

# Only the harness (no Airflow, no Metaflow yet): both read their configuration at import time.
from airflow_provider_metaflow.testing import (
    configure,
    create_dag,
    run_dag,
    run_flow_locally,
    task_artifacts,
    task_counts,
)

REPO = Path(__file__).resolve().parent.parent
DEMO_ROOT = REPO / ".demo"
EXAMPLE_FLOW = REPO / "example_dags" / "flows" / "movie_stats_flow.py"
# Non-default values, so the report shows DAG params reaching the flow's Parameters.
PARAMETERS: dict[str, Any] = {
    "genre": "all", "min_votes": 1500, "rating_scale": 100.0, "include_classics": False,
}
END_ARTIFACTS = ("summary", "decade_counts", "genre_table")


def main() -> int:
    options = _arguments()
    parameters = {**PARAMETERS, **options.set}
    shutil.rmtree(DEMO_ROOT, ignore_errors=True)
    os.environ.setdefault("METAFLOW_USER", "demo")
    env = configure(DEMO_ROOT)
    if not options.verbose:
        # Step output still reaches Metaflow's task logs: Task(pathspec).stdout.
        os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"

    flow_file = env.flows_folder / EXAMPLE_FLOW.name
    shutil.copy(EXAMPLE_FLOW, flow_file)
    dag_file = env.dags_folder / "movie_stats_dag.py"
    _progress(f"Compiling {flow_file.name} into {dag_file.relative_to(REPO)}")
    try:
        create_dag(flow_file, dag_file)
    except subprocess.CalledProcessError as error:
        print(error.stdout, error.stderr, sep="\n", file=sys.stderr)
        return 1
    _progress("Migrating the Airflow database (SQLite)")
    env.migrate()
    _progress("Running the DAG with dag.test()")
    result = run_dag(dag_file, conf=parameters)
    airflow_run = _metaflow_run(result)
    if result.state != "success" or airflow_run is None or not airflow_run.successful:
        print(f"\n{'DAG run':<16} {result.dag_id} / {result.airflow_run_id}: {result.state}")
        if airflow_run is None:
            print(f"{'Metaflow run':<16} {result.pathspec} was never started")
        else:
            _report_failed_tasks(airflow_run)
        print("\nDemo FAILED: the DAG run did not succeed (--verbose shows every task's log).")
        return 1

    _progress("Running the same flow with `python movie_stats_flow.py run`")
    local_run = run_flow_locally(flow_file, parameters)
    airflow_artifacts, airflow_counts = task_artifacts(airflow_run), task_counts(airflow_run)
    local_artifacts, local_counts = task_artifacts(local_run), task_counts(local_run)
    differing = sorted(
        step for step in airflow_counts.keys() | local_counts.keys()
        if airflow_counts.get(step) != local_counts.get(step)
        or airflow_artifacts.get(step) != local_artifacts.get(step)
    )
    _report_airflow_run(result, airflow_run, parameters)
    _report_end_step(airflow_run)
    _report_comparison(local_run, airflow_counts, differing)
    print("\nDemo " + ("FAILED: the two runs differ." if differing else "passed."))
    return 1 if differing else 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--verbose", action="store_true", help="show Airflow's INFO logs, with every task's output"
    )
    parser.add_argument(
        "--set", metavar="NAME=VALUE", action="append", type=_parameter, default=[],
        help=f"override a Parameter (defaults: {PARAMETERS})",
    )
    options = parser.parse_args()
    options.set = dict(options.set)
    return options


def _parameter(text: str) -> tuple[str, Any]:
    name, _, value = text.partition("=")
    if name not in PARAMETERS:
        raise argparse.ArgumentTypeError(f"unknown Parameter {name!r}; the flow has {', '.join(PARAMETERS)}")
    kind = type(PARAMETERS[name])
    if kind is bool:
        return name, value.lower() in ("1", "true", "yes")
    return name, kind(value)


def _progress(message: str) -> None:
    print(f"==> {message}", flush=True)


def _metaflow_run(result: Any) -> Any:
    from metaflow.exception import MetaflowNotFound

    try:
        return result.run()
    except MetaflowNotFound:
        return None


def _report_airflow_run(result: Any, airflow_run: Any, parameters: dict[str, Any]) -> None:
    steps = sorted(airflow_run, key=lambda step: step.created_at)
    print()
    print(f"{'DAG run':<16} {result.dag_id} / {result.airflow_run_id}: {result.state}")
    print(f"{'parameters':<16} " + ", ".join(f"{name}={value!r}" for name, value in parameters.items()))
    print(f"{'Metaflow run':<16} {airflow_run.pathspec} (successful: {airflow_run.successful})")
    print(f"{'tasks per step':<16} " + ", ".join(f"{step.id} {len(list(step))}" for step in steps))


def _report_failed_tasks(airflow_run: Any) -> None:
    for step in airflow_run:
        for task in step:
            if not task.successful:
                error = task.stderr.strip().splitlines()[-3:]
                print(f"{'failed task':<16} {task.pathspec}")
                print("\n".join(f"  {line}" for line in error))


def _report_end_step(airflow_run: Any) -> None:
    end = airflow_run["end"].task
    print(f"{'end task':<16} {end.pathspec}")
    for name in END_ARTIFACTS:
        value = end[name].data
        if name != "genre_table":
            print(f"  {name:<14} {value}")
            continue
        print(f"  {name}")
        for row in value:
            print(f"    {row['genre']:<9} {row['movies']:>2} movies  "
                  f"rating {row['rating']:>6}  best {row['best']}")


def _report_comparison(local_run: Any, counts: dict[str, int], differing: list[str]) -> None:
    print(f"{'local run':<16} {local_run.pathspec} (python movie_stats_flow.py run)")
    if differing:
        print(f"{'same tasks':<16} NO: steps {', '.join(differing)} differ in task count or artifacts")
    else:
        tasks = sum(counts.values())
        print(f"{'same tasks':<16} yes: all {tasks} tasks in {len(counts)} steps, same artifacts")


if __name__ == "__main__":
    sys.exit(main())
