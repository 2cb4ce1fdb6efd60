"""Map Airflow tries onto Metaflow attempts.

Airflow raises try_number on every retry and on every clear; Metaflow numbers attempts
0..5 (MAX_ATTEMPTS = 6) and runs user code only while the attempt is at most
--max-user-code-retries. A task cleared after its retries were used must run user code
again, so --max-user-code-retries is computed from the tries left in the current cycle
rather than from a fixed @retry count.
"""

from __future__ import annotations

from dataclasses import dataclass

METAFLOW_MAX_ATTEMPTS = 6


class AttemptsExhausted(Exception):
    """The Airflow try would be Metaflow attempt 6 or later, which Metaflow ignores."""


@dataclass(frozen=True)
class AttemptPlan:
    attempt: int  # --retry-count
    max_user_code_retries: int  # --max-user-code-retries

    @property
    def runs_user_code(self) -> bool:
        return self.attempt <= self.max_user_code_retries


def plan_attempt(
    try_number: int, max_tries: int, error_retries: int = 0, attempt: int | None = None
) -> AttemptPlan:
    """Choose the Metaflow attempt for an Airflow try.

    try_number: Airflow's try, from 1. max_tries: the last try that may still be retried in
    this cycle (Airflow sets it to the current try plus the task's retries on every clear).
    error_retries: tries reserved at the end of a cycle for Metaflow's fallback (1 with @catch).
    attempt: the attempt when it is not `try_number - 1`: an iteration of a recursive step that
    a later try starts fresh (0), or resumes (one more than its last attempt).
    """
    attempt = try_number - 1 if attempt is None else attempt
    if attempt >= METAFLOW_MAX_ATTEMPTS:
        raise AttemptsExhausted(
            f"Airflow try {try_number} would run Metaflow attempt {attempt}, but Metaflow keeps at "
            f"most {METAFLOW_MAX_ATTEMPTS} attempts per task (0-{METAFLOW_MAX_ATTEMPTS - 1})"
        )
    tries_left_after_this = max(max_tries + 1 - try_number, 0)
    user_code_tries_left = tries_left_after_this - error_retries
    if user_code_tries_left >= 0:
        # The last user-code try of the cycle is where Metaflow's @catch takes the exception.
        return AttemptPlan(attempt, attempt + user_code_tries_left)
    return AttemptPlan(attempt, attempt - 1)
