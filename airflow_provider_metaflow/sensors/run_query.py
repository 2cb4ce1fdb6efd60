"""Answer a flow sensor's RunQuery with the Metaflow client, in a child process.

Run as ``python -m airflow_provider_metaflow.sensors.run_query``: the query comes as JSON on stdin
and one answer goes as JSON to stdout. It runs apart from Airflow because Metaflow reads its
configuration (datastore, metadata service) from the environment when imported, so each
connection needs its own process, and because the client blocks. Never imports Airflow; reads
Metaflow only through `sensors.metaflow_client`, which holds the Metaflow internals it needs.

What the answers mean:

- **matched**: a run that is successful (its end task succeeded), carries every requested tag, is
  in the namespace, and finished inside the window. Without a run id, the one that finished last
  among those; runs are read newest first, and reading stops at the first successful run that
  finished before the window opened (without a window: at the first successful run).
- **failed** (a run, reported as ``never`` when ``fail_on_failed_run``): its end task finished
  without success (a @catch on ``end``), or one of its tasks failed on the last attempt its step
  allows (1 + @retry times + 1 with @catch, at most Metaflow's MAX_ATTEMPTS, read from the run's
  recorded graph), so Metaflow has stopped the run. A task that may still be retried, or a run
  killed before it recorded a result, is not failed. Without a run id, only the newest run that
  passes the filters is judged, and only when its failure happened inside the window.
- **never**: the flow does not exist, the given run finished outside the window, a failed run as
  above, or the window closed (its end is more than CLOCK_SLACK in the past) with nothing matched.
- **waiting**: anything else; the reason says what is missing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_metaflow.sensors import metaflow_client
from airflow_provider_metaflow.sensors.query import (
    MATCHED,
    NEVER,
    WAITING,
    QueryAnswer,
    RunQuery,
)

if TYPE_CHECKING:
    from airflow_provider_metaflow.sensors.metaflow_client import Flow, Run, Task

# Run timestamps come from the machines that ran the tasks: allow for their clocks.
CLOCK_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class Window:
    """When the matched run must have finished; either end may be open."""

    after: datetime | None = None
    before: datetime | None = None

    @classmethod
    def of(cls, query: RunQuery) -> Window:
        return cls(_parse_time(query.finished_after), _parse_time(query.finished_before))

    def contains(self, moment: datetime) -> bool:
        return (self.after is None or moment >= self.after) and (self.before is None or moment <= self.before)

    def closed(self, now: datetime) -> bool:
        return self.before is not None and now > self.before + CLOCK_SLACK

    def __str__(self) -> str:
        if self.after is None and self.before is None:
            return "at any time"
        if self.before is None:
            return f"after {self.after:%Y-%m-%d %H:%M:%S %Z}"
        if self.after is None:
            return f"before {self.before:%Y-%m-%d %H:%M:%S %Z}"
        return f"between {self.after:%Y-%m-%d %H:%M:%S %Z} and {self.before:%Y-%m-%d %H:%M:%S %Z}"


@dataclass(frozen=True)
class Failure:
    description: str
    at: datetime


def answer(query: RunQuery, now: datetime) -> QueryAnswer:
    """The answer to one query, read in Metaflow's global namespace (filters apply on top)."""
    metaflow_client.read_all_namespaces()
    flow = metaflow_client.find_flow(query.flow)
    if flow is None:
        return QueryAnswer(
            NEVER,
            f"Flow {query.flow!r} does not exist in the Metaflow metadata this worker reads. Check "
            "the flow name (the FlowSpec class name) and the sensor's Metaflow connection "
            "(metadata provider and datastore).",
        )
    window = Window.of(query)
    if query.run_id:
        return _answer_for_run(f"{flow.id}/{query.run_id}", query, window, now)
    return _answer_for_latest(flow, query, window, now)


def _answer_for_run(pathspec: str, query: RunQuery, window: Window, now: datetime) -> QueryAnswer:
    run = metaflow_client.find_run(pathspec)
    if run is None:
        if window.closed(now):
            return QueryAnswer(NEVER, f"Run {pathspec} does not exist, and the window closed.")
        return QueryAnswer(WAITING, f"Run {pathspec} does not exist yet.")
    problem = _filter_problem(run, query)
    if problem:
        return QueryAnswer(WAITING, f"Run {pathspec} exists, but {problem}.")
    if run.successful:
        finished = _utc(run.finished_at)
        if window.contains(finished):
            return QueryAnswer(MATCHED, f"Run {pathspec} succeeded at {finished:%c %Z}.", pathspec)
        return QueryAnswer(
            NEVER, f"Run {pathspec} succeeded at {finished:%c %Z}, not {window} as the sensor requires."
        )
    failure = _failure(run)
    if failure and query.fail_on_failed_run:
        return QueryAnswer(NEVER, f"Run {pathspec} failed: {failure.description}.")
    if failure:
        return QueryAnswer(
            WAITING,
            f"Run {pathspec} failed ({failure.description}); waiting in case it is run again "
            "(set fail_on_failed_run=True to fail instead).",
        )
    if window.closed(now):
        return QueryAnswer(NEVER, f"Run {pathspec} has not finished, and the window ({window}) closed.")
    return QueryAnswer(WAITING, f"Run {pathspec} has not finished yet.")


def _answer_for_latest(flow: Flow, query: RunQuery, window: Window, now: datetime) -> QueryAnswer:
    best: Run | None = None
    best_finished: datetime | None = None
    newest: Run | None = None
    newest_successful = False
    for run in flow.runs(*query.tags):
        if _filter_problem(run, query) or (window.before and _utc(run.created_at) > window.before):
            continue
        successful = run.successful
        if newest is None:
            newest, newest_successful = run, successful
        if not successful:
            continue
        finished = _utc(run.finished_at)
        if window.contains(finished) and (best_finished is None or finished > best_finished):
            best, best_finished = run, finished
        if (window.after is None and best is not None) or (window.after and finished < window.after):
            break
    wanted = _describe_wanted(query, window)
    if best is not None and best_finished is not None:
        return QueryAnswer(MATCHED, f"Run {best.pathspec} succeeded at {best_finished:%c %Z}.", best.pathspec)
    if newest is not None and query.fail_on_failed_run and not newest_successful:
        failure = _failure(newest)
        if failure and (window.after is None or failure.at >= window.after):
            return QueryAnswer(
                NEVER,
                f"No {wanted} exists, and the newest candidate {newest.pathspec} failed: "
                f"{failure.description}.",
            )
    if window.closed(now):
        return QueryAnswer(NEVER, f"No {wanted} exists, and the window has closed.")
    latest = f" (newest candidate: {newest.pathspec})" if newest is not None else ""
    return QueryAnswer(WAITING, f"No {wanted} yet{latest}.")


def _filter_problem(run: Run, query: RunQuery) -> str | None:
    missing = [tag for tag in query.tags if tag not in run.tags]
    if missing:
        return f"it lacks the tags {missing}"
    # Metaflow's own namespace rule: an object is in namespace N when N is one of its tags.
    if query.namespace and query.namespace not in run.tags:
        return f"it is not in namespace {query.namespace!r}"
    return None


def _describe_wanted(query: RunQuery, window: Window) -> str:
    parts = [f"successful run of {query.flow}"]
    if query.tags:
        parts.append(f"with tags {list(query.tags)}")
    if query.namespace:
        parts.append(f"in namespace {query.namespace!r}")
    parts.append(f"that finished {window}")
    return " ".join(parts)


def _failure(run: Run) -> Failure | None:
    """How the run failed, or None while it succeeded, runs, or may still be retried."""
    end = run.end_task
    if end is not None and end.finished and not end.successful:
        return Failure(f"its end task {end.pathspec} finished without success", _utc(end.finished_at))
    allowed = metaflow_client.allowed_attempts(run)
    for step in run:
        for task in step:
            failure = _task_failure(task, allowed.get(step.id, 1))
            if failure is not None:
                return failure
    return None


def _task_failure(task: Task, allowed_attempts: int) -> Failure | None:
    attempt = task.current_attempt  # the latest attempt that started
    if attempt + 1 < allowed_attempts:
        return None  # Metaflow may still run another attempt
    ended = metaflow_client.attempt_end(task, attempt)
    if ended is None:
        return None  # that attempt has not finished
    if ended.ok:
        return None
    return Failure(
        f"task {task.pathspec} failed on attempt {attempt}, the last its step allows",
        _utc(ended.at),
    )


def _utc(moment: datetime | None) -> datetime:
    """Metaflow's timestamps are naive local times; compare them as aware UTC times."""
    if moment is None:  # only asked of finished runs and tasks, which have a time
        raise ValueError("a finished Metaflow object has no finish time")
    return moment.astimezone(UTC)


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def main() -> int:
    answer_stream = sys.stdout
    # Anything Metaflow prints goes to stderr: stdout carries the answer only.
    sys.stdout = sys.stderr
    data: Mapping[str, Any] = json.load(sys.stdin)
    result = answer(RunQuery.from_json(data), now=datetime.now(UTC))
    answer_stream.write(json.dumps(result.to_json()))
    answer_stream.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
