"""Read task records from a run's datastore in a short child process.

Airflow-side code that must not import Metaflow (the triggerer, a local step's task process)
asks a child `python -m airflow_provider_metaflow.runtime.probe` instead: it reads its Metaflow
config from its own environment (the worker's, or a `metaflow` connection's variables), so it
sees the datastore exactly as the step processes do. `ask()` is the Airflow side; `main()` runs
in the child and is the only part that imports Metaflow.

Requests (JSON on stdin), each answered with JSON on stdout:
- {"flow": F, "run_id": R, "tasks": [[step, task_id], ...]} -> {"tasks": [record, ...]}
  With "sync_metadata": true, local metadata a pod saved in the datastore for those tasks is
  copied into this machine's metadata store first.
- {"flow": F, "run_id": R, "iterations_of": [step, [index, ...]]} -> {"iterations": [record, ...]}
  (every iteration of a recursive step at that index path that has started, in order)
- {"flow": F, "run_id": R, "settings": true} -> {"settings": {VARIABLE: value}}: where a pod
  finds the datastore and metadata (no credentials)
A record is {"attempt": int|null, "done": bool, "ok": bool, "next_steps": [...],
"foreach_num_splits": int|null}.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Mapping
from typing import Any


class ProbeFailed(Exception):
    pass


def ask(request: Mapping[str, Any], python: str, env: Mapping[str, str], cwd: str) -> dict[str, Any]:
    """Run the probe with `python` in `cwd` (the flow's folder) and return its answer."""
    completed = subprocess.run(  # noqa: S603 - argv list
        [python, "-m", __name__],
        input=json.dumps(dict(request)),
        capture_output=True,
        text=True,
        env=dict(env),
        cwd=cwd,
        check=False,
    )
    if completed.returncode != 0:
        raise ProbeFailed(f"reading the Metaflow datastore failed:\n{completed.stderr.strip()}")
    answer: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return answer


def main() -> int:
    import os

    from airflow_provider_metaflow.runtime.ids import metaflow_task_id
    from metaflow_extensions.airflow_provider_metaflow.plugins import metaflow_adapter

    request = json.load(sys.stdin)
    datastore = metaflow_adapter.configured_flow_datastore(request["flow"], os.getcwd())
    run_id = request["run_id"]

    def record(step: str, task_id: str) -> dict[str, Any]:
        return dataclasses.asdict(metaflow_adapter.finished_task(datastore, run_id, step, task_id))

    answer: dict[str, Any] = {}
    if request.get("settings"):
        answer["settings"] = metaflow_adapter.pod_settings()
    if "tasks" in request:
        if request.get("sync_metadata"):
            for step, task_id in request["tasks"]:
                metaflow_adapter.sync_metadata_from_datastore(datastore, run_id, step, task_id)
        answer["tasks"] = [record(step, task_id) for step, task_id in request["tasks"]]
    if "iterations_of" in request:
        step, index_path = request["iterations_of"]
        iterations: list[dict[str, Any]] = []
        while True:
            found = record(step, metaflow_task_id(index_path, iteration=len(iterations)))
            if found["attempt"] is None:
                break
            iterations.append(found)
        answer["iterations"] = iterations
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
