"""What an execution backend gets and gives back: one Metaflow task to launch, its result.

The operators decide which Metaflow task to run (ids, attempt, inputs) and describe it as a
StepLaunch: Metaflow's command line, the variables the step process needs, and small files it
reads (the run's Parameters, Config values, a long list of input paths). A backend launches it,
streams its output to the Airflow log, can kill it, and returns what the task reported.

- `backends.local.LocalStepBackend`: a local process under a guard (the default).
- The pod backend is the real KubernetesPodOperator (`operators.kubernetes`): it launches,
  streams and kills; `operators.pod_run` supplies the launch and reads the result from the
  datastore after the pod ends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from metaflow_extensions.airflow_provider_metaflow.plugins.contract import TaskResult

LineSink = Callable[[str, bytes], None]  # (stream name, line without newline)


@dataclass(frozen=True)
class StepLaunch:
    """One Metaflow task, ready to start. Paths in `argv` and `env` that name `files` are
    relative to the folder the backend puts them in (given when the launch was built)."""

    pathspec: str  # Flow/run/step/task
    attempt: int
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)  # name -> content


class StepBackend(Protocol):
    """Launch one Metaflow task, stream its output, wait, and return its result."""

    def run(self, launch: StepLaunch, sink: LineSink) -> TaskResult: ...

    def kill(self) -> None:
        """Stop the task and everything it started; called from a signal handler, never blocks."""
