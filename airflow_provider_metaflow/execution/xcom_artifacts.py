"""Artifacts to XCom (`xcom_artifacts=`): so native Airflow tasks downstream of a Metaflow step
read what it computed with `ti.xcom_pull(task_ids=..., key=NAME)` or `step.output[NAME]`, with no
Metaflow import.

The names are checked when the operator is built (at DAG parse); the bound on each value's JSON
text is read from Airflow's config when the task runs. The step's own process (a local step) or
the worker's probe (a pod) reads the artifacts and checks them by one rule
(contract.XComArtifacts.collect); here the task pushes them, or fails for good, naming every
artifact that cannot go. None is pushed when any cannot: downstream tasks see all or nothing.
"""

from __future__ import annotations

import keyword
from collections.abc import Sequence
from typing import Any

from airflow_provider_metaflow.execution.upstream import (
    XCOM_NEXT_STEPS_KEY,
    XCOM_PATHSPEC_KEY,
    XCOM_RETURN_KEY,
)
from metaflow_extensions.airflow_provider_metaflow.plugins import contract

CONFIG_SECTION = "metaflow"
CONFIG_MAX_BYTES = "xcom_artifact_max_bytes"  # [metaflow] xcom_artifact_max_bytes
DEFAULT_MAX_BYTES = 65536  # Airflow keeps XCom in its metadata database
RESERVED_KEYS = (XCOM_PATHSPEC_KEY, XCOM_NEXT_STEPS_KEY, XCOM_RETURN_KEY)


def checked_names(task_id: str, names: Sequence[str], max_bytes: int | None) -> tuple[str, ...]:
    """The artifact names, or a ValueError at DAG parse that names the task and the artifact."""
    where = f"Task {task_id!r}: xcom_artifacts"
    if isinstance(names, str):
        raise ValueError(f"{where} is the string {names!r}; give a list of artifact names: [{names!r}].")
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise ValueError(
                f"{where} names {name!r}, which is not an artifact name: give the name of an "
                "attribute the step sets (self.NAME = ...), a Python identifier."
            )
        if name.startswith("_"):
            raise ValueError(
                f"{where} names {name!r}: names starting with '_' belong to Metaflow's own artifacts "
                "and Airflow's own XCom keys. Push a public artifact instead."
            )
        if name in RESERVED_KEYS:
            raise ValueError(
                f"{where} names {name!r}, an XCom key the provider pushes itself "
                f"({', '.join(RESERVED_KEYS)}). Rename the artifact in the flow, or read it with the "
                "Metaflow client from the task's pathspec (XCom key 'pathspec')."
            )
        if name in seen:
            raise ValueError(f"{where} names {name!r} twice; name each artifact once.")
        seen.add(name)
    if max_bytes is not None and (
        isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1
    ):
        raise ValueError(
            f"Task {task_id!r}: xcom_artifact_max_bytes is {max_bytes!r}; give a whole number of bytes "
            f"of at least 1, or None for [{CONFIG_SECTION}] {CONFIG_MAX_BYTES}."
        )
    return tuple(names)


def request(names: Sequence[str], max_bytes: int | None) -> contract.XComArtifacts | None:
    """What the step side reads and checks, at task time; None when the task pushes no artifact."""
    if not names:
        return None
    return contract.XComArtifacts(list(names), max_bytes if max_bytes is not None else configured_max_bytes())


def configured_max_bytes() -> int:
    """`[metaflow] xcom_artifact_max_bytes` (AIRFLOW__METAFLOW__XCOM_ARTIFACT_MAX_BYTES) where the
    task runs, else the default."""
    from airflow_provider_metaflow.version_compat import AirflowFailException, get_airflow_conf

    text = str(get_airflow_conf().get(CONFIG_SECTION, CONFIG_MAX_BYTES, fallback="") or "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    if not text.isdigit() or int(text) < 1:
        raise AirflowFailException(
            f"[{CONFIG_SECTION}] {CONFIG_MAX_BYTES} is {text!r}; set a whole number of bytes of at "
            f"least 1 (default {DEFAULT_MAX_BYTES})."
        )
    return int(text)


def problems(result: contract.TaskResult, wanted: contract.XComArtifacts) -> dict[str, str]:
    """Every asked-for artifact that cannot go to XCom, and why. An iteration of a recursive step
    that loops again pushes nothing (the one that leaves the loop does), so it reports none."""
    step = result.pathspec.split("/")[2]
    if step in result.next_steps:
        return {}
    found = dict(result.xcom_problems)
    for name in wanted.names:
        if name not in result.xcom_values and name not in found:
            found[name] = "the step's backend reported no value for it"
    return found


def failure(result: contract.TaskResult, problems: dict[str, str]) -> str:
    """Why the task fails although its Metaflow task succeeded, and what to do instead."""
    step = result.pathspec.split("/")[2]
    listed = "; ".join(f"{name!r}: {why}" for name, why in problems.items())
    them = "it" if len(problems) == 1 else "them"
    return (
        f"Step {step!r}: Metaflow task {result.pathspec} succeeded, but "
        f"{'an artifact' if len(problems) == 1 else f'{len(problems)} artifacts'} in xcom_artifacts "
        f"cannot go to XCom: {listed}. An XCom value must be JSON (no NaN or infinity) that reads "
        f"back unchanged, within xcom_artifact_max_bytes (the operator's, else [{CONFIG_SECTION}] "
        f"{CONFIG_MAX_BYTES}). None of the step's artifacts was pushed. Remove {them} from "
        f"xcom_artifacts and read {them} with the Metaflow client from the task's pathspec (XCom "
        "key 'pathspec'): Task(pathspec, _namespace_check=False)[name].data."
    )


def push(ti: Any, result: contract.TaskResult, wanted: contract.XComArtifacts) -> None:
    """Each artifact under its own name; a mapped task's instances each push their own."""
    for name in wanted.names:
        ti.xcom_push(key=name, value=result.xcom_values[name])
