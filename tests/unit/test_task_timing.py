"""`seconds_run_together`, which the real-services tests use to tell parallel tasks from serial ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from task_timing import seconds_run_together

from airflow_provider_metaflow.testing.rest import TaskInstance

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _ran(start: float, end: float | None, index: int = 0) -> TaskInstance:
    return TaskInstance(
        task_id="nap",
        map_index=index,
        state="success",
        try_number=1,
        start_date=T0 + timedelta(seconds=start),
        end_date=None if end is None else T0 + timedelta(seconds=end),
        hostname=None,
        pid=None,
        raw={},
    )


def test_tasks_run_back_to_back_never_ran_together() -> None:
    assert seconds_run_together([_ran(0, 4), _ran(4, 8), _ran(8, 12), _ran(12.5, 16)]) == 0


def test_tasks_started_at_different_moments_ran_together_while_they_overlapped() -> None:
    assert seconds_run_together([_ran(0, 5), _ran(3, 9), _ran(10, 11)]) == 2


def test_time_with_three_or_four_running_counts_once() -> None:
    assert seconds_run_together([_ran(0, 8), _ran(0, 8), _ran(1, 8), _ran(2, 6)]) == 8


def test_a_task_without_an_end_date_is_left_out() -> None:
    assert seconds_run_together([_ran(0, 8), _ran(1, None)]) == 0
