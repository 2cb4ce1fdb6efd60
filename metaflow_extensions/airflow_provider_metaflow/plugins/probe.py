"""The worker's Metaflow side: a short child process that reads and writes the flow's datastore
for an Airflow task that must not import Metaflow itself.

Run as `python -m metaflow_extensions.airflow_provider_metaflow.plugins.probe` (contract.PROBE_MODULE)
with the worker's Metaflow config (its environment, or a `metaflow` connection's variables), so
it sees the datastore exactly as the step processes do. One JSON request on stdin, one JSON
answer as the last line of stdout. Every request names {"flow": F, "run_id": R}, plus:

- "tasks": [[step, task_id], ...] -> {"tasks": [record, ...]}. With "sync_metadata": true, local
  metadata a pod saved in the datastore for those tasks is copied into this machine's metadata
  store first. With "xcom_artifacts": {"names": [...], "max_bytes": N} (contract.XComArtifacts),
  each record of a task that succeeded and did not loop back to its own step also has
  "xcom_values" {name: value} and "xcom_problems" {name: why}.
- "iterations_of": [step, task_id_prefix] -> {"iterations": [record, ...]}: every iteration
  (task `<prefix><k>`, k = 0, 1, ...) of a recursive step that has started, in order.
- "pod_launch": {"package": {...}, "argv": [...], "files": {...}, "secret_env": {...}} ->
  {"pod_launch": {"arguments": [...], "settings": {VARIABLE: value}}}: the files and secret
  variables are stored in the datastore, and the answer is the pod's `python` arguments (the
  bootstrap program and its spec, which names them by hash only) and where the pod finds the
  datastore and metadata service (no credentials).

A record is {"attempt": int|null, "done": bool, "ok": bool, "next_steps": [...],
"foreach_num_splits": int|null}.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from metaflow_extensions.airflow_provider_metaflow.plugins import contract, metaflow_adapter

_HERE = Path(__file__).resolve().parent


def answer(request: dict[str, Any]) -> dict[str, Any]:
    datastore = metaflow_adapter.configured_flow_datastore(request["flow"], os.getcwd())
    run_id = request["run_id"]

    def record(step: str, task_id: str) -> dict[str, Any]:
        return dataclasses.asdict(metaflow_adapter.finished_task(datastore, run_id, step, task_id))

    reply: dict[str, Any] = {}
    if "tasks" in request:
        if request.get("sync_metadata"):
            for step, task_id in request["tasks"]:
                metaflow_adapter.sync_metadata_from_datastore(datastore, run_id, step, task_id)
        reply["tasks"] = [record(step, task_id) for step, task_id in request["tasks"]]
        if "xcom_artifacts" in request:
            wanted = contract.XComArtifacts(**request["xcom_artifacts"])
            for (step, task_id), found in zip(request["tasks"], reply["tasks"], strict=True):
                found.update(xcom_artifacts(datastore, run_id, step, task_id, found, wanted))
    if "iterations_of" in request:
        step, prefix = request["iterations_of"]
        iterations: list[dict[str, Any]] = []
        while (found := record(step, f"{prefix}{len(iterations)}"))["attempt"] is not None:
            iterations.append(found)
        reply["iterations"] = iterations
    if "pod_launch" in request:
        reply["pod_launch"] = pod_launch(datastore, request["flow"], request["pod_launch"])
    return reply


def xcom_artifacts(
    datastore: Any,
    run_id: str,
    step: str,
    task_id: str,
    found: dict[str, Any],
    wanted: contract.XComArtifacts,
) -> dict[str, Any]:
    """The artifacts a pod's task stored that its Airflow task pushes to XCom, checked by the same
    rule as a local step's own process applies (contract.XComArtifacts.collect)."""
    if not (found["done"] and found["ok"]) or step in found["next_steps"]:
        return {}
    task = metaflow_adapter.task_datastore(datastore, run_id, step, task_id)
    values, problems = wanted.collect(lambda name: metaflow_adapter.task_artifact(task, name))
    return {"xcom_values": values, "xcom_problems": problems}


def pod_launch(datastore: Any, flow_name: str, launch: dict[str, Any]) -> dict[str, Any]:
    """Store the launch's values in the datastore; the pod's arguments name them by hash only."""
    values = {"files": launch["files"], "env": launch["secret_env"]}
    key = metaflow_adapter.store_blob(datastore, json.dumps(values, sort_keys=True).encode())
    spec = {
        "flow": flow_name,
        "package": launch["package"],
        "launch": key,
        "argv": launch["argv"],
        "adapter": (_HERE / "metaflow_adapter.py").read_text(encoding="utf-8"),
    }
    bootstrap = (_HERE / "pod_bootstrap.py").read_text(encoding="utf-8")
    return {"arguments": ["-c", bootstrap, json.dumps(spec)], "settings": metaflow_adapter.pod_settings()}


def main() -> int:
    request = json.load(sys.stdin)
    reply_stream = sys.stdout
    sys.stdout = sys.stderr  # anything Metaflow prints goes to stderr: stdout carries the answer
    reply_stream.write(json.dumps(answer(request)) + "\n")
    reply_stream.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
