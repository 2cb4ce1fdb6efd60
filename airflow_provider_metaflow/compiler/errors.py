"""Compile errors, collected so one `create` reports every problem in a flow at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One reason a flow cannot become a DAG: where, what, and what to do about it."""

    where: str  # "step 'train'", "flow", "parameter 'alpha'"
    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what} {self.fix}"


def attribute_problem(step: str, decorator: str, attribute: str, value: Any, what: str, fix: str) -> Problem:
    """A Problem with one attribute of a step's decorator, named as `step 'x' @deco(attr=value)`."""
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    return Problem(f"step {step!r} @{decorator}({attribute}={shown})", what, fix)


class FlowCompileError(Exception):
    """The flow cannot be compiled; nothing was written."""

    def __init__(self, flow_name: str, problems: list[Problem]) -> None:
        self.flow_name = flow_name
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        count = len(self.problems)
        super().__init__(
            f"{flow_name} cannot run on Airflow yet ({count} problem{'s' if count != 1 else ''}); "
            f"no DAG file was written:\n{lines}"
        )
