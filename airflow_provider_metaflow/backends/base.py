"""The seam between one Airflow try and the place its Metaflow step runs.

The engine (`execution.step_try`) decides which Metaflow task to run (ids, attempt, inputs) and
describes it as a StepLaunch: Metaflow's command line, the variables the step process needs and
the small files it reads. A StepBackend launches it, streams its output to the Airflow log, can
kill it, and returns what the task reported. The engine builds the backend named by the step's
plan through `backends.registry`; nothing else in the engine knows which backend it drives.

Backends: `local` (a process under a guard, on the worker) and `kubernetes` (a pod, through the
real KubernetesPodOperator). `docs/architecture.md` shows how to add one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from metaflow_extensions.airflow_provider_metaflow.plugins.contract import TaskResult, XComArtifacts

if TYPE_CHECKING:
    from airflow_provider_metaflow.flow import MetaflowFlow

LineSink = Callable[[str, bytes], None]  # (stream name, line without newline)


@dataclass(frozen=True)
class StepHost:
    """Where the step process runs, as its command line must name things there."""

    python: str  # the interpreter that runs the step
    flow_file: str  # the flow file
    files_dir: str  # the folder that holds the launch's files


@dataclass(frozen=True)
class StepLaunch:
    """One Metaflow task, ready to start. Paths in `argv` and `env` that name `files` are in the
    host's `files_dir`. `secret_env` holds values that must not appear where the launch is
    described or logged (a pod spec, a command line): the production token, for one."""

    pathspec: str  # Flow/run/step/task
    attempt: int
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)  # name -> content
    secret_env: Mapping[str, str] = field(default_factory=dict)


class StepFailed(Exception):
    """The Metaflow task ended without reporting success."""


class StepStopped(Exception):
    """The task was told to stop (a kill, a timeout) before or while its step ran."""


class TrySite(Protocol):
    """What a backend may know of the Airflow try it serves (the engine provides it)."""

    operator: Any  # the Airflow operator: a pod backend drives its KubernetesPodOperator
    context: Any  # the Airflow task context
    flow: MetaflowFlow
    run_id: str
    flow_file: str  # absolute, on the worker
    flow_dir: str
    log: Any
    xcom_artifacts: XComArtifacts | None  # what the step pushes to XCom: a backend reports the values

    def worker_environment(self) -> dict[str, str]:
        """The environment of a Metaflow process started for this try on the worker."""
        ...


class StepBackend(Protocol):
    """Launch one Metaflow task, stream its output, wait, and return its result."""

    host: StepHost

    def run(self, launch: StepLaunch, sink: LineSink) -> TaskResult:
        """Run the task to its end. Raises StepFailed or StepStopped; a deferrable backend may
        raise Airflow's TaskDeferred and report the result after the operator resumes."""
        ...

    def kill(self) -> None:
        """Stop the task and everything it started; called from a signal handler, never blocks."""
        ...

    def close(self) -> None:
        """Release what the backend holds (scratch folders); called once, after the last run."""
        ...


BackendFactory = Callable[[TrySite], StepBackend]
