"""`python flow.py run` in the background, for tests that need a real run to finish (or not)
while they watch: the sensor tests, in-process and under the real services."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path


class FlowProcess:
    """`python flow.py [TOP-LEVEL] run --run-id-file F [ARGS]` in its own process group, with its
    output in a file beside the flow (a pipe nobody reads could fill and stall the run)."""

    def __init__(
        self,
        flow_file: Path,
        *run_args: str,
        top_level: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.flow_name = _flow_class(flow_file)
        self.run_id_file = flow_file.parent / f"{flow_file.stem}-{uuid.uuid4().hex}.run_id"
        self.output_file = self.run_id_file.with_suffix(".log")
        argv = [sys.executable, str(flow_file), "--quiet", *top_level, "run"]
        argv += ["--run-id-file", str(self.run_id_file), *run_args]
        with open(self.output_file, "wb") as output:
            self.process = subprocess.Popen(  # noqa: S603 - argv list
                argv,
                cwd=flow_file.parent,
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def pathspec(self, timeout: float = 60.0) -> str:
        """The run's pathspec, once Metaflow has registered the run."""
        deadline = time.monotonic() + timeout
        while not (self.run_id_file.exists() and self.run_id_file.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no run id from {self.flow_name}:\n{self.output()}")
            time.sleep(0.05)
        return f"{self.flow_name}/{self.run_id_file.read_text().strip()}"

    def finish(self, timeout: float = 120.0, succeed: bool = True) -> str:
        """Wait for the run to end, a success unless `succeed` is False; the run's pathspec."""
        status = self.process.wait(timeout=timeout)
        assert (status == 0) == succeed, f"{self.flow_name} run ended with {status}:\n{self.output()}"
        return self.pathspec()

    def output(self) -> str:
        return self.output_file.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _flow_class(flow_file: Path) -> str:
    for line in flow_file.read_text().splitlines():
        if line.startswith("class ") and "(FlowSpec)" in line:
            return line.split()[1].split("(")[0]
    raise AssertionError(f"no FlowSpec class in {flow_file}")
