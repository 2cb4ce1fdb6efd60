"""Compare two Metaflow runs of one flow, task by task, and say where they differ.

Loop iterations run as separate tasks whose ids may differ between runtimes, so tasks are compared per
step as a sorted list of (foreach index path, artifacts) rather than by task id.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

TaskRecord = tuple[tuple[tuple[int, str], ...], str]  # (foreach frames (index, value)), artifacts as JSON


@dataclass(frozen=True)
class RunSummary:
    """What must be the same in both runs: tasks per step, every task's artifacts, the end artifacts."""

    successful: bool
    task_counts: dict[str, int]
    tasks: dict[str, list[TaskRecord]]
    end_artifacts: dict[str, Any]


def summarize(run: Any, end_step: str) -> RunSummary:
    tasks: dict[str, list[TaskRecord]] = {}
    end_artifacts: dict[str, Any] = {}
    for step in run:
        records = []
        for task in step:
            artifacts = _user_artifacts(task)
            stack = task["_foreach_stack"].data if "_foreach_stack" in task else []
            frames = tuple((frame.index, repr(frame.value)) for frame in stack)
            records.append((frames, json.dumps(artifacts, sort_keys=True, default=repr)))
            if step.id == end_step:
                end_artifacts = artifacts
        tasks[step.id] = sorted(records)
    return RunSummary(
        successful=bool(run.successful),
        task_counts={name: len(records) for name, records in sorted(tasks.items())},
        tasks=tasks,
        end_artifacts=end_artifacts,
    )


def _user_artifacts(task: Any) -> dict[str, Any]:
    return {
        artifact.id: artifact.data
        for artifact in task
        if not artifact.id.startswith("_") and artifact.id != "name"
    }


def differences(airflow: RunSummary, local: RunSummary) -> list[str]:
    """Human-readable differences, most telling first; empty when the runs match."""
    found = []
    if not airflow.successful:
        found.append("the Airflow-driven Metaflow run is not marked successful")
    if airflow.task_counts != local.task_counts:
        found.append(f"tasks per step: airflow {airflow.task_counts} != local {local.task_counts}")
    if airflow.end_artifacts != local.end_artifacts:
        found.append(f"end step artifacts: airflow {airflow.end_artifacts} != local {local.end_artifacts}")
    for step in sorted(set(airflow.tasks) & set(local.tasks)):
        if airflow.tasks[step] != local.tasks[step]:
            only_airflow = [r for r in airflow.tasks[step] if r not in local.tasks[step]]
            only_local = [r for r in local.tasks[step] if r not in airflow.tasks[step]]
            found.append(
                f"step {step}: tasks only in the Airflow run {only_airflow[:3]}; "
                f"only in the local run {only_local[:3]}"
            )
    return found


# Lines of Airflow's and Metaflow's output that say why a task failed.
_REASON = re.compile(
    r"(MetaflowException|MetaflowInternalError|Error:|Exception:|missing|refused|failed with)", re.IGNORECASE
)
_NOISE = re.compile(
    r"(DeprecationWarning|RemovedInAirflow|warnings\.warn|Marking run|DagRun Finished|"
    r"Task failed with exception)"
)
# Airflow's structured log line: `TIME [level   ] message   [logger] key=value ...`
_LOG_LINE = re.compile(r"^\S+Z \[\w+\s*\]\s+(?P<message>.*?)\s+\[[\w.]+\](\s+\S+=.*)?$")


def failure_reasons(output: str, limit: int = 14) -> str:
    """The distinct lines of captured output that explain a failed DAG run, first ones first.
    A Metaflow error headline (`Data store error:`) comes with the line after it."""
    messages = [_message(line) for line in output.splitlines()]
    picked: list[str] = []
    for number, text in enumerate(messages):
        if not text or text.startswith("Traceback (most recent call last)") or _NOISE.search(text):
            continue
        if _REASON.search(text):
            _add(picked, text)
            if text.endswith(":") and number + 1 < len(messages):
                _add(picked, messages[number + 1])
    return "\n".join(picked[:limit]) or "(no error line found in the captured output)"


def _message(line: str) -> str:
    match = _LOG_LINE.match(line.strip())
    return (match.group("message") if match else line).strip()[:400]


def _add(picked: list[str], text: str) -> None:
    if text and text not in picked:
        picked.append(text)
