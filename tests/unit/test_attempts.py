import pytest

from airflow_provider_metaflow.runtime.attempts import METAFLOW_MAX_ATTEMPTS, AttemptsExhausted, plan_attempt


def test_first_try_is_attempt_zero_and_leaves_room_for_retries() -> None:
    plan = plan_attempt(try_number=1, max_tries=2)
    assert plan.attempt == 0
    assert plan.max_user_code_retries == 2
    assert plan.runs_user_code


def test_last_retry_is_the_last_user_code_attempt() -> None:
    plan = plan_attempt(try_number=3, max_tries=2)
    assert (plan.attempt, plan.max_user_code_retries) == (2, 2)


def test_cleared_task_reruns_user_code() -> None:
    # Ran tries 1-3 with retries=2; a clear sets max_tries = 3 + 2 and the next try is 4.
    plan = plan_attempt(try_number=4, max_tries=5)
    assert plan.attempt == 3
    assert plan.runs_user_code
    assert plan.max_user_code_retries == 5


def test_cleared_task_without_retries_reruns_user_code() -> None:
    plan = plan_attempt(try_number=2, max_tries=1)
    assert plan.runs_user_code and plan.attempt == 1


def test_reserved_error_retry_runs_the_fallback_not_user_code() -> None:
    # With @catch one try per cycle is kept for Metaflow's fallback attempt.
    assert plan_attempt(try_number=2, max_tries=2, error_retries=1).runs_user_code
    fallback = plan_attempt(try_number=3, max_tries=2, error_retries=1)
    assert not fallback.runs_user_code


def test_the_attempt_limit_is_metaflows_own() -> None:
    from metaflow.metaflow_config import MAX_ATTEMPTS  # noqa: TID251 - tests use Metaflow internals

    assert METAFLOW_MAX_ATTEMPTS == MAX_ATTEMPTS


def test_the_try_after_metaflows_last_attempt_is_refused() -> None:
    last_try = METAFLOW_MAX_ATTEMPTS  # attempts count from 0, Airflow tries from 1
    assert plan_attempt(try_number=last_try, max_tries=last_try + 3).attempt == METAFLOW_MAX_ATTEMPTS - 1
    with pytest.raises(AttemptsExhausted, match=f"at most {METAFLOW_MAX_ATTEMPTS} attempts"):
        plan_attempt(try_number=last_try + 1, max_tries=last_try + 3)


def test_a_recursive_step_iteration_started_by_a_later_try_is_attempt_zero() -> None:
    # try 2 of 3: this iteration is new (attempt 0) and keeps the one retry left in the cycle
    plan = plan_attempt(try_number=2, max_tries=2, attempt=0)
    assert (plan.attempt, plan.max_user_code_retries) == (0, 1)
