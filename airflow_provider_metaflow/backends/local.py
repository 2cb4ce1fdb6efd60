"""Run a Metaflow step as a local process under a guard (see process.py), in the flow's folder,
and read the result the step process reports.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping

from airflow_provider_metaflow.backends.base import LineSink, StepLaunch
from airflow_provider_metaflow.backends.process import LocalProcess
from metaflow_extensions.airflow_provider_metaflow.plugins import contract
from metaflow_extensions.airflow_provider_metaflow.plugins.contract import TaskResult


class StepFailed(Exception):
    """The Metaflow task ended without reporting success."""


class LocalStepBackend:
    """Runs StepLaunches as local processes under a guard, in the flow's folder.

    Use as a context manager: it owns a scratch folder (`files_dir`) for the launches' files
    and the processes' output, removed at the end.
    """

    def __init__(self, env: Mapping[str, str], cwd: str) -> None:
        self._env = dict(env)
        self._cwd = cwd
        self._scratch = tempfile.TemporaryDirectory(prefix="metaflow-task-")
        self.files_dir = self._scratch.name
        self._process: LocalProcess | None = None
        self._killed = False

    def __enter__(self) -> LocalStepBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._scratch.cleanup()

    def run(self, launch: StepLaunch, sink: LineSink) -> TaskResult:
        for name, content in launch.files.items():
            with open(os.path.join(self.files_dir, name), "w", encoding="utf-8") as handle:
                handle.write(content)
        outputs = {name: os.path.join(self.files_dir, f"{name}.log") for name in ("stdout", "stderr")}
        for path in outputs.values():
            open(path, "wb").close()  # a new launch starts with empty output files
        result_file = os.path.join(self.files_dir, "result.json")
        if os.path.exists(result_file):
            os.unlink(result_file)
        env = {
            **self._env,
            **launch.env,
            contract.ENV_RESULT_FILE: result_file,
            contract.ENV_STDOUT_FILE: outputs["stdout"],
            contract.ENV_STDERR_FILE: outputs["stderr"],
        }
        self._process = LocalProcess(launch.argv, env, self._cwd, outputs["stdout"], outputs["stderr"])
        if self._killed:
            self._process.kill()
        started = time.monotonic()
        returncode = self._process.run(sink)
        elapsed = time.monotonic() - started
        ended = f"Metaflow task {launch.pathspec} ended with exit code {returncode} after {elapsed:.2f} s"
        sink("stderr", ended.encode())
        result = _read_result(result_file)
        if returncode != 0 or result is None or not result.task_ok:
            raise StepFailed(
                f"Metaflow task {launch.pathspec} (attempt {launch.attempt}) failed with exit code "
                f"{returncode}; its output is above and in Task('{launch.pathspec}').stderr."
            )
        return result

    def kill(self) -> None:
        self._killed = True
        if self._process is not None:
            self._process.kill()


def _read_result(path: str) -> TaskResult | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return TaskResult.from_json(handle.read())
    except FileNotFoundError:
        return None
