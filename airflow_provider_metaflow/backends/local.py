"""Run a Metaflow step as a local process under a guard (see process.py), in the flow's folder,
and read the result the step process reports.
"""

from __future__ import annotations

import os
import tempfile
import time

from airflow_provider_metaflow.backends.base import (
    LineSink,
    StepFailed,
    StepHost,
    StepLaunch,
    StepStopped,
    TrySite,
)
from airflow_provider_metaflow.backends.process import LocalProcess, ProcessKilled
from metaflow_extensions.airflow_provider_metaflow.plugins import contract
from metaflow_extensions.airflow_provider_metaflow.plugins.contract import TaskResult


class LocalStepBackend:
    """Runs StepLaunches as local processes under a guard, in the flow's folder, with the
    worker's interpreter. It owns a scratch folder for the launches' files and the processes'
    output, removed by close()."""

    def __init__(self, site: TrySite) -> None:
        self._env = site.worker_environment()
        self._cwd = site.flow_dir
        self._scratch = tempfile.TemporaryDirectory(prefix="metaflow-task-")
        self.host = StepHost(site.flow.interpreter(), site.flow_file, self._scratch.name)
        self._process: LocalProcess | None = None
        self._killed = False

    def close(self) -> None:
        self._scratch.cleanup()

    def run(self, launch: StepLaunch, sink: LineSink) -> TaskResult:
        files_dir = self.host.files_dir
        for name, content in launch.files.items():
            with open(os.path.join(files_dir, name), "w", encoding="utf-8") as handle:
                handle.write(content)
        outputs = {name: os.path.join(files_dir, f"{name}.log") for name in ("stdout", "stderr")}
        for path in outputs.values():
            open(path, "wb").close()  # a new launch starts with empty output files
        result_file = os.path.join(files_dir, "result.json")
        if os.path.exists(result_file):
            os.unlink(result_file)
        env = {
            **self._env,
            **launch.env,
            **launch.secret_env,  # the environment of a local process is not logged
            contract.ENV_RESULT_FILE: result_file,
            contract.ENV_STDOUT_FILE: outputs["stdout"],
            contract.ENV_STDERR_FILE: outputs["stderr"],
        }
        self._process = LocalProcess(launch.argv, env, self._cwd, outputs["stdout"], outputs["stderr"])
        if self._killed:
            self._process.kill()
        started = time.monotonic()
        try:
            returncode = self._process.run(sink)
        except ProcessKilled as stopped:
            raise StepStopped(f"Metaflow task {launch.pathspec} was stopped: {stopped}") from None
        elapsed = time.monotonic() - started
        ended = f"Metaflow task {launch.pathspec} ended with exit code {returncode} after {elapsed:.2f} s"
        sink("stderr", ended.encode())
        result = _read_result(result_file)
        if result is not None and result.refusal:
            return result  # the step refused its input before running user code: the engine says why
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
