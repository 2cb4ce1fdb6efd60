"""Where a retried or cleared recursive step resumes its loop."""

from typing import Any

from airflow_provider_metaflow.operators.loop import resume_point


def _record(
    attempt: int, ok: bool = True, done: bool = True, next_steps: list[str] | None = None
) -> dict[str, Any]:
    return {"attempt": attempt, "done": done, "ok": ok, "next_steps": next_steps or ["loop"]}


def test_first_try_starts_at_iteration_zero() -> None:
    assert resume_point("loop", []) == (0, {})


def test_retry_resumes_at_the_failed_iteration_as_its_next_attempt() -> None:
    history = [_record(0), _record(0), _record(0, ok=False, next_steps=[])]
    assert resume_point("loop", history) == (2, {2: 1})


def test_retry_resumes_an_iteration_that_never_finished() -> None:
    history = [_record(0), _record(1, done=False, ok=False, next_steps=[])]
    assert resume_point("loop", history) == (1, {1: 2})


def test_a_try_that_ended_between_iterations_starts_the_next_one() -> None:
    assert resume_point("loop", [_record(0), _record(0)]) == (2, {})


def test_clearing_a_finished_loop_runs_every_iteration_again_as_new_attempts() -> None:
    history = [_record(0), _record(1), _record(0, next_steps=["end"])]
    assert resume_point("loop", history) == (0, {0: 1, 1: 2, 2: 1})
