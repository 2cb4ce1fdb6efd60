"""A small language for flow shapes: blocks nest inside each other, and a GraphSpec wraps one block
between a start and an end step. `flow_source.render` turns a GraphSpec into a Metaflow flow file.

Blocks, and the steps each becomes:
- Work():            one plain step.
- Loop():            one recursive switch: the step repeats itself 0-3 extra times (data decides), then
                     goes on. Metaflow 2.19 allows recursion only as a switch leading back to itself.
- Seq(a, b, ...):    the blocks one after the other.
- Branch(a, b, ...): a static split into arms, closed by a join.
- Foreach(body):     a foreach step, the body once per item, closed by a join.
- Switch(a, b, ..., merge=False):
                     a switch step; exactly one case runs, chosen by the data. A case of None is
                     empty: the switch goes straight to what follows it. With merge=True the cases
                     meet in a merge step; without, each case goes straight to whatever follows the
                     switch (a join, the end step, the next block).

Metaflow forbids a switch (or a recursive switch) leading straight into a join, so where an empty
case or a loop's exit would do that, the renderer puts one plain step in between.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Work:
    """One plain step."""


@dataclass(frozen=True)
class Loop:
    """A step whose switch leads back to itself a data-dependent number of times."""


@dataclass(frozen=True)
class Seq:
    parts: tuple[Block, ...]

    def __init__(self, *parts: Block) -> None:
        object.__setattr__(self, "parts", parts)


@dataclass(frozen=True)
class Branch:
    arms: tuple[Block, ...]

    def __init__(self, *arms: Block) -> None:
        object.__setattr__(self, "arms", arms)


@dataclass(frozen=True)
class Foreach:
    body: Block


@dataclass(frozen=True)
class Switch:
    cases: tuple[Block | None, ...]
    merge: bool = False

    def __init__(self, *cases: Block | None, merge: bool = False) -> None:
        object.__setattr__(self, "cases", cases)
        object.__setattr__(self, "merge", merge)


Block = Work | Loop | Seq | Branch | Foreach | Switch


@dataclass(frozen=True)
class GraphSpec:
    """One flow of the matrix.

    `start`/`end` other than "start"/"end" are marked with @step(start=True)/@step(end=True).
    With `fused_start` the body's first step is itself the start step (a start that splits,
    switches or starts a foreach); otherwise a plain start step comes first.
    """

    id: str
    body: Block
    start: str = "start"
    end: str = "end"
    fused_start: bool = False
    about: str = field(default="", compare=False)

    @property
    def class_name(self) -> str:
        words = "".join(part.capitalize() for part in self.id.replace("_", "-").split("-"))
        return f"Matrix{words}Flow"

    @property
    def file_name(self) -> str:
        return "matrix_" + self.id.replace("-", "_") + "_flow.py"

    @property
    def has_loop(self) -> bool:
        return _contains_loop(self.body)


def _contains_loop(block: Block | None) -> bool:
    match block:
        case Loop():
            return True
        case Seq(parts=parts):
            return any(_contains_loop(part) for part in parts)
        case Branch(arms=arms):
            return any(_contains_loop(arm) for arm in arms)
        case Foreach(body=body):
            return _contains_loop(body)
        case Switch(cases=cases):
            return any(_contains_loop(case) for case in cases)
    return False


def describe(block: Block | None) -> str:
    """A one-line, readable form of a block, e.g. `foreach(switch(work | work))`."""
    match block:
        case None:
            return "-"
        case Work():
            return "work"
        case Loop():
            return "loop"
        case Seq(parts=parts):
            return " ; ".join(describe(part) for part in parts)
        case Branch(arms=arms):
            return "branch(" + " & ".join(describe(arm) for arm in arms) + ")"
        case Foreach(body=body):
            return f"foreach({describe(body)})"
        case Switch(cases=cases, merge=merge):
            inner = " | ".join(describe(case) for case in cases)
            return f"switch({inner}{' ; merge' if merge else ''})"
    raise TypeError(f"not a block: {block!r}")
