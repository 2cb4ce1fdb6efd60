"""The question a flow sensor asks about Metaflow runs, and how it is sent to a child process.

Stdlib only (no Airflow, no Metaflow): the sensor and the trigger build a `RunQuery` and run
`python -m airflow_provider_metaflow.sensors.run_query` with the connection's environment; the
child answers with Metaflow's client. The query goes as JSON on stdin, the answer comes back as
JSON on stdout, and no setting or secret is ever on the command line.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

CHILD_MODULE = "airflow_provider_metaflow.sensors.run_query"
QUERY_TIMEOUT_SECONDS = 300.0
MATCHED, WAITING, NEVER = "matched", "waiting", "never"
_STDERR_TAIL = 3000


@dataclass(frozen=True)
class RunQuery:
    """Which run of a flow counts as the one to wait for.

    Window bounds are ISO-8601 datetimes with a time zone; tags include the ``project:`` and
    ``project_branch:`` tags of a @project branch; ``namespace`` None means Metaflow's global
    namespace.
    """

    flow: str
    run_id: str | None = None
    tags: tuple[str, ...] = ()
    namespace: str | None = None
    finished_after: str | None = None
    finished_before: str | None = None
    fail_on_failed_run: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tags"] = list(self.tags)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunQuery:
        return cls(**{**data, "tags": tuple(data.get("tags") or ())})


@dataclass(frozen=True)
class QueryAnswer:
    """``matched`` (with the run's pathspec), ``waiting`` or ``never``, with a reason to log."""

    status: str
    reason: str
    pathspec: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QueryAnswer:
        if data.get("status") not in (MATCHED, WAITING, NEVER):
            raise QueryFailed(f"The run query answered with an unknown status: {data!r}")
        return cls(status=data["status"], reason=str(data.get("reason", "")), pathspec=data.get("pathspec"))


class QueryFailed(RuntimeError):
    """The child process could not answer (crashed, timed out, printed no answer)."""


def query_argv() -> list[str]:
    """The child's command line: the worker's interpreter, which has Metaflow installed."""
    return [sys.executable, "-m", CHILD_MODULE]


def child_environment(metaflow_environment: Mapping[str, str]) -> dict[str, str]:
    """The worker's environment with the connection's Metaflow settings on top."""
    return {**os.environ, **metaflow_environment}


def execute_query(
    query: RunQuery, metaflow_environment: Mapping[str, str], timeout: float = QUERY_TIMEOUT_SECONDS
) -> QueryAnswer:
    """Ask a child process (blocking): for sensors in poke and reschedule mode."""
    try:
        completed = subprocess.run(  # noqa: S603 - argv list, no shell
            query_argv(),
            input=json.dumps(query.to_json()).encode(),
            capture_output=True,
            env=child_environment(metaflow_environment),
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise QueryFailed(_timeout_message(query, timeout)) from None
    return parse_answer(completed.returncode, completed.stdout, completed.stderr)


async def aexecute_query(
    query: RunQuery, metaflow_environment: Mapping[str, str], timeout: float = QUERY_TIMEOUT_SECONDS
) -> QueryAnswer:
    """Ask a child process without blocking the event loop: for the trigger.

    The child is killed if the caller is cancelled (the triggerer stops the trigger).
    """
    process = await asyncio.create_subprocess_exec(
        *query_argv(),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_environment(metaflow_environment),
    )
    try:
        payload = json.dumps(query.to_json()).encode()
        stdout, stderr = await asyncio.wait_for(process.communicate(payload), timeout)
    except TimeoutError:
        raise QueryFailed(_timeout_message(query, timeout)) from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return parse_answer(process.returncode, stdout, stderr)


def parse_answer(returncode: int | None, stdout: bytes, stderr: bytes) -> QueryAnswer:
    """The child's answer, or QueryFailed with the end of its stderr."""
    text = stdout.decode(errors="replace").strip()
    if returncode == 0 and text:
        try:
            return QueryAnswer.from_json(json.loads(text))
        except ValueError:
            pass
    tail = stderr.decode(errors="replace")[-_STDERR_TAIL:].strip()
    raise QueryFailed(
        f"The Metaflow run query ({CHILD_MODULE}) exited with code {returncode} and no answer. "
        f"Its error output ends with:\n{tail}"
    )


def _timeout_message(query: RunQuery, timeout: float) -> str:
    return (
        f"The Metaflow run query for flow {query.flow!r} took more than {timeout:.0f} s; the "
        "metadata service or datastore may be unreachable from this worker."
    )
