"""Ask the worker's Metaflow side (the extension's probe) about a run's datastore.

Airflow-side code that must not import Metaflow (a local step's task process, a pod step's task
process) runs the probe as a short child process (`python -m <contract.PROBE_MODULE>`) with the
worker's Metaflow configuration. Its requests and answers are documented in the probe module.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from typing import Any

from metaflow_extensions.airflow_provider_metaflow.plugins.contract import PROBE_MODULE


class ProbeFailed(Exception):
    pass


def ask(request: Mapping[str, Any], python: str, env: Mapping[str, str], cwd: str) -> dict[str, Any]:
    """Run the probe with `python` in `cwd` (the flow's folder) and return its answer."""
    completed = subprocess.run(  # noqa: S603 - argv list
        [python, "-m", PROBE_MODULE],
        input=json.dumps(dict(request)),
        capture_output=True,
        text=True,
        env=dict(env),
        cwd=cwd,
        check=False,
    )
    if completed.returncode != 0:
        raise ProbeFailed(f"reading the Metaflow datastore failed:\n{completed.stderr.strip()}")
    answer: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return answer
