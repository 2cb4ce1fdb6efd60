"""The specs of the matrix: named cases picked by hand, then every nesting of the building blocks up
to depth 3, deduplicated by the flow they render to. FAST_IDS is the subset `make test` runs.

    python tests/matrix/matrix_cases.py            # list the specs
    python tests/matrix/matrix_cases.py OUT_DIR    # write every flow file to OUT_DIR, to read or run
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from pathlib import Path

from flow_source import render
from graph_specs import Block, Branch, Foreach, GraphSpec, Loop, Seq, Switch, Work, describe

# Containers wrap one inner block; each is one way of nesting.
CONTAINERS: dict[str, Callable[[Block], Block]] = {
    "branch": lambda inner: Branch(inner, Work()),  # the inner block in one arm of a static split
    "foreach": lambda inner: Foreach(inner),  # the inner block is the foreach body
    "switch": lambda inner: Switch(inner, Work()),  # cases go straight to what follows (a join too)
    "skip": lambda inner: Switch(inner, None),  # one case does no work at all
}
LEAVES: dict[str, Block] = {"work": Work(), "loop": Loop()}
MAX_DEPTH = {"work": 3, "loop": 2}  # recursive switches are refused today: fewer, shallower variants

HAND_PICKED: tuple[GraphSpec, ...] = (
    GraphSpec(
        "switch-in-foreach",
        Foreach(Switch(Work(), Seq(Work(), Work()), merge=True)),
        about="A switch inside a foreach: each split takes its own case; the cases meet in a merge step.",
    ),
    GraphSpec(
        "switch-into-foreach-join",
        Foreach(Switch(Work(), Work())),
        about="foreach -> switch -> a | b -> join: the cases feed the foreach join directly.",
    ),
    GraphSpec(
        "switch-into-branch-join",
        Branch(Switch(Work(), Seq(Work(), Work())), Work()),
        about="split -> (switch -> a | b) & c -> join: the cases feed the branch join directly.",
    ),
    GraphSpec(
        "foreach-in-switch-in-foreach",
        Foreach(Switch(Foreach(Work()), Work(), merge=True)),
        about="A foreach inside one case of a switch inside a foreach: some splits fan out again.",
    ),
    GraphSpec(
        "branch-in-nested-foreach",
        Foreach(Foreach(Branch(Work(), Seq(Work(), Work())))),
        about="A static branch in the body of a nested foreach with ragged widths.",
    ),
    GraphSpec("loop-alone", Loop(), about="A recursive switch on its own: repeats 0-3 extra times."),
    GraphSpec(
        "loop-in-foreach",
        Foreach(Seq(Work(), Loop())),
        about="A recursive switch inside a foreach: each split loops a different number of times.",
    ),
    GraphSpec(
        "custom-start-end-skip-to-end",
        Switch(Foreach(Work()), None),
        start="begin",
        end="finish",
        about="@step(start=True)/@step(end=True) names; one case goes straight to the end step.",
    ),
    GraphSpec(
        "skip-to-merge-in-foreach",
        Foreach(Switch(Branch(Work(), Work()), None, merge=True)),
        about="In a foreach, one case skips all the work and goes straight to the merge step.",
    ),
    GraphSpec(
        "custom-start-is-switch",
        Switch(Seq(Work(), Work()), Foreach(Switch(Work(), None)), None),
        start="begin",
        end="finish",
        fused_start=True,
        about="A custom-named start step that is itself a three-way switch, one case empty.",
    ),
    GraphSpec(
        "start-is-foreach",
        Seq(Foreach(Seq(Work(), Switch(Loop(), Work()))), Work()),
        fused_start=True,
        about="The start step is a foreach; a loop in one case of a switch in its body.",
    ),
    GraphSpec(
        "blocks-in-sequence",
        Seq(Foreach(Work()), Switch(Branch(Work(), Work()), None), Foreach(Foreach(Work())), Work()),
        about="A foreach, a switch with an empty case, and a nested foreach one after the other.",
    ),
    GraphSpec(
        "three-way-switch-in-nested-foreach",
        Foreach(Foreach(Switch(Work(), Foreach(Work()), None, merge=True))),
        about="A three-way switch (one case a third foreach level, one empty) in a nested foreach.",
    ),
    GraphSpec(
        "loop-into-branch-join",
        Branch(Loop(), Seq(Work(), Loop())),
        about="Recursive switches in both arms of a static branch.",
    ),
)

# One flow per named case: `make test` runs these.
FAST_IDS: tuple[str, ...] = (
    "switch-in-foreach",
    "switch-into-foreach-join",
    "switch-into-branch-join",
    "foreach-in-switch-in-foreach",
    "branch-in-nested-foreach",
    "loop-alone",
    "loop-in-foreach",
    "custom-start-end-skip-to-end",
    "skip-to-merge-in-foreach",
)


def generated_specs() -> list[GraphSpec]:
    """Every chain of containers of depth 0..MAX_DEPTH around each leaf, named by the chain."""
    specs = []
    for leaf_name, leaf in LEAVES.items():
        for depth in range(MAX_DEPTH[leaf_name] + 1):
            for chain in itertools.product(CONTAINERS, repeat=depth):
                block = leaf
                for container in reversed(chain):
                    block = CONTAINERS[container](block)
                specs.append(GraphSpec("-".join((*chain, leaf_name)), block, about=describe(block)))
    return specs


def all_specs() -> list[GraphSpec]:
    """Hand-picked specs first, then generated ones; a spec whose flow is the same as an earlier
    one's (up to its name) is dropped."""
    seen: set[str] = set()
    unique = []
    for spec in (*HAND_PICKED, *generated_specs()):
        key = render(GraphSpec("same", spec.body, spec.start, spec.end, spec.fused_start))
        if key not in seen:
            seen.add(key)
            unique.append(spec)
    return unique


def fast_specs() -> list[GraphSpec]:
    by_id = {spec.id: spec for spec in HAND_PICKED}
    return [by_id[name] for name in FAST_IDS]


def main(argv: list[str]) -> None:
    specs = all_specs()
    if not argv:
        for spec in specs:
            print(f"{spec.id:45} {describe(spec.body)}")
        print(f"{len(specs)} flows ({len(generated_specs()) + len(HAND_PICKED)} before deduplication)")
        return
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        (out / spec.file_name).write_text(render(spec))
    print(f"wrote {len(specs)} flows to {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
