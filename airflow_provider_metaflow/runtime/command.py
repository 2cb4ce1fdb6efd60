"""Metaflow command lines for one task, as argv lists (never a shell string).

Top-level options come first, then the command, the way Metaflow's own runtime calls
`python flow.py ... step STEP ...`. Datastore, metadata and environment are not passed: the
step process reads them from its Metaflow config (the worker's environment, ~/.metaflowconfig,
or a `metaflow` connection's variables), so the Airflow side never needs to import Metaflow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from metaflow_extensions.airflow_provider_metaflow.plugins.contract import INTERNAL_DECORATOR


@dataclass(frozen=True)
class StepInvocation:
    step: str
    run_id: str
    task_id: str
    input_paths: str | None = None  # compressed form, inline
    input_paths_file: str | None = None  # for very wide joins
    split_index: int | None = None
    retry_count: int = 0
    max_user_code_retries: int = 0
    tags: Sequence[str] = ()
    namespace: str | None = None
    # A resume: the run it resumes (Metaflow's current.origin_run_id), and the origin task this
    # task is cloned from instead of running (RUN/step/task), if any.
    clone_run_id: str | None = None
    clone_only: str | None = None


@dataclass(frozen=True)
class FlowCommand:
    """How every Metaflow command of one flow starts: interpreter, file, top-level options."""

    python: str
    flow_file: str
    # Config names whose values are in config_file, which Metaflow reads the way its own
    # runtime passes resolved configs (--local-config-file plus --config-value NAME kv.NAME).
    config_names: Sequence[str] = ()
    config_file: str | None = None
    extra_options: Sequence[str] = ()  # e.g. @project's --branch NAME / --production
    # Decorators attached at `create` with --with (not in the flow's code): every step process
    # gets them too, as on Metaflow's other schedulers.
    decospecs: Sequence[str] = ()

    def argv(self) -> list[str]:
        argv = [self.python, self.flow_file, "--quiet", "--no-pylint", *self.extra_options]
        if self.config_names and self.config_file:
            argv.append(f"--local-config-file={self.config_file}")
            for name in self.config_names:
                argv += ["--config-value", name, f"kv.{name}"]
        for spec in (*self.decospecs, INTERNAL_DECORATOR):
            argv.append(f"--with={spec}")
        return argv


def config_file_content(configs: Mapping[str, str]) -> str:
    """The --local-config-file for configs given as JSON text of Metaflow's (value, is_plain)."""
    return json.dumps({"user_configs": {name: json.loads(value) for name, value in configs.items()}})


def step_command(flow: FlowCommand, invocation: StepInvocation) -> list[str]:
    argv = flow.argv()
    argv += ["step", invocation.step, "--run-id", invocation.run_id, "--task-id", invocation.task_id]
    if invocation.input_paths_file is not None:
        argv += ["--input-paths-filename", invocation.input_paths_file]
    elif invocation.input_paths is not None:
        argv += ["--input-paths", invocation.input_paths]
    if invocation.split_index is not None:
        argv += ["--split-index", str(invocation.split_index)]
    argv += ["--retry-count", str(invocation.retry_count)]
    argv += ["--max-user-code-retries", str(invocation.max_user_code_retries)]
    for tag in invocation.tags:
        argv += ["--tag", tag]
    if invocation.namespace is not None:
        argv += ["--namespace", invocation.namespace]
    if invocation.clone_run_id is not None:
        argv += ["--clone-run-id", invocation.clone_run_id]
    if invocation.clone_only is not None:
        argv += ["--clone-only", invocation.clone_only]
    return argv
