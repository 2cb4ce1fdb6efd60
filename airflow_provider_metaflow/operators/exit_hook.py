"""MetaflowExitHookOperator: runs a flow's @exit_hook functions once the run has finished.

The generated DAG makes it a teardown of every step, so it runs whether the run succeeded or
failed and does not change the DAG run's state. Like Metaflow's own runtime, it calls the
on_success hooks when the end step succeeded and the on_error hooks otherwise, each in its
own process with Metaflow's exit-hook script, and calls all of them even if one fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from airflow_provider_metaflow.flow import MetaflowFlow

EXIT_HOOK_SCRIPT = "metaflow.plugins.exit_hook.exit_hook_script"


class MetaflowExitHookOperator(BaseOperator):
    """Call a flow's @exit_hook functions for the Metaflow run of this DAG run.

    :param flow: the flow.
    :param end_step: the flow's end step, whose success decides which hooks run.
    :param on_success: hook function names (or import paths) to call after a successful run.
    :param on_error: hook function names (or import paths) to call after a failed run.
    """

    ui_color = "#f4ecfc"
    _process: Any = None  # the running hook's process, for on_kill
    _killed = False

    def __init__(
        self,
        *,
        flow: MetaflowFlow,
        end_step: str = "end",
        on_success: Sequence[str] = (),
        on_error: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.flow = flow
        self.end_step = end_step
        self.on_success = list(on_success)
        self.on_error = list(on_error)

    def execute(self, context: Any) -> list[str]:
        import tempfile

        from airflow_provider_metaflow.backends.process import LocalProcess, ProcessKilled
        from airflow_provider_metaflow.execution.environment import metaflow_environment
        from airflow_provider_metaflow.execution.flow_run import locate_flow_run
        from airflow_provider_metaflow.execution.upstream import Upstream
        from airflow_provider_metaflow.task_group import step_task_id
        from airflow_provider_metaflow.version_compat import AirflowException

        run = locate_flow_run(self, self.flow, context)
        upstream = Upstream(context["ti"], lambda step: step_task_id(self, step))
        succeeded = self.end_step in upstream.succeeded([self.end_step])
        hooks = self.on_success if succeeded else self.on_error
        self.log.info(
            "Run %s/%s %s; calling %s",
            self.flow.name,
            run.run_id,
            "succeeded" if succeeded else "failed",
            ", ".join(hooks) or "no hooks",
        )
        env = metaflow_environment(self.flow)
        failed = []
        for hook in hooks:
            argv = [
                self.flow.interpreter(),
                "-m",
                EXIT_HOOK_SCRIPT,
                run.flow_file,
                hook,
                f"{self.flow.name}/{run.run_id}",
            ]
            with tempfile.TemporaryDirectory(prefix="metaflow-exit-hook-") as scratch:
                process = LocalProcess(argv, env, run.flow_dir, f"{scratch}/stdout", f"{scratch}/stderr")
                if self._killed:  # told to stop between two hooks
                    process.kill()
                self._process = process
                try:
                    code = process.run(
                        lambda _stream, line: self.log.info("%s", line.decode(errors="replace"))
                    )
                except ProcessKilled:
                    raise AirflowException(f"Exit hook {hook} was stopped.") from None
            if code != 0:
                failed.append(hook)
        if failed:
            raise AirflowException(f"Exit hooks {', '.join(failed)} failed; their output is above.")
        return hooks

    def _log_line(self, _stream: str, line: bytes) -> None:
        self.log.info("%s", line.decode(errors="replace"))

    def on_kill(self) -> None:
        """Called from Airflow's SIGTERM handler: signals the running hook, never waits."""
        self._killed = True
        if self._process is not None:
            self._process.kill()
