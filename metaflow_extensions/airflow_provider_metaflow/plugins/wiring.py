"""How each step's Airflow task must be wired, from the flow's graph, and a DAG checked against it.

`expected_wiring` is the one rule: `airflow create` writes what it says (compiler.flow_plan),
and the start task's process checks a DAG's tasks against it (the internal step decorator), so
a hand-written DAG that wires a step differently fails before any user code runs instead of
giving a wrong run. The DAG side is described by the start task (execution.dag_wiring) as a
`DagWiring` file.

Both sides import this module, and a pod runs it from the flow's code package, so it imports
only the standard library; graph nodes are read by attribute, never through Metaflow's modules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

# The .expand() argument of a step in a foreach body: the foreach's split indexes, or, inside a
# nested foreach, the index paths its splits task (MetaflowSplitsOperator) flattened.
SPLIT_INDEX = "split_index"
INDEX_PATH = "index_path"


@dataclass(frozen=True)
class GraphNode:
    """The facts of one node of Metaflow's FlowGraph that the rule reads."""

    name: str
    type: str  # start, linear, split, split-switch, join, foreach, end
    in_funcs: tuple[str, ...] = ()
    out_funcs: tuple[str, ...] = ()
    split_parents: tuple[str, ...] = ()  # enclosing splits, outermost first
    matching_join: str | None = None  # for a split or foreach: the join that closes it


@dataclass(frozen=True)
class StepWiring:
    """How one step's task is written: `inputs`, `foreach`, `join_of`, `conditional`, whether
    it is mapped (`mapped_over`: the .expand() argument) or loops (`recursive`)."""

    parents: tuple[str, ...]
    foreach: str | None  # the innermost foreach whose body this step is in
    join_of: str | None  # the foreach this join closes
    conditional: bool  # downstream of a switch: it may not run
    recursive: bool  # a switch that can choose itself: one task runs every iteration
    mapped_over: str | None  # SPLIT_INDEX, INDEX_PATH, or None outside a foreach body
    splits_task: bool  # a nested foreach: a splits task after it flattens its splits


def graph_nodes(graph: Any) -> dict[str, GraphNode]:
    """The facts of every node of a Metaflow FlowGraph, in the graph's order."""
    return {
        name: GraphNode(
            name=str(name),
            type=str(graph[name].type),
            in_funcs=tuple(graph[name].in_funcs),
            out_funcs=tuple(graph[name].out_funcs),
            split_parents=tuple(graph[name].split_parents),
            matching_join=graph[name].matching_join,
        )
        for name in graph.sorted_nodes
    }


def expected_wiring(nodes: Mapping[str, GraphNode]) -> dict[str, StepWiring]:
    """Every step's wiring, from the graph's facts alone."""
    foreach = {name: _innermost_foreach(nodes, node) for name, node in nodes.items()}
    conditional: dict[str, bool] = {}

    def is_conditional(name: str) -> bool:
        """After a switch, or after a step that is: it runs only if a branch taken leads to it."""
        if name not in conditional:
            conditional[name] = any(
                nodes[parent].type == "split-switch" or is_conditional(parent)
                for parent in _parents(nodes[name])
            )
        return conditional[name]

    def mapped_over(name: str) -> str | None:
        enclosing = foreach[name]
        if enclosing is None:
            return None
        return SPLIT_INDEX if foreach[enclosing] is None else INDEX_PATH

    return {
        name: StepWiring(
            parents=_parents(node),
            foreach=foreach[name],
            join_of=_closed_foreach(nodes, node),
            conditional=is_conditional(name),
            recursive=node.type == "split-switch" and name in node.out_funcs,
            mapped_over=mapped_over(name),
            splits_task=node.type == "foreach" and foreach[name] is not None,
        )
        for name, node in nodes.items()
    }


def _parents(node: GraphNode) -> tuple[str, ...]:
    return tuple(sorted(set(node.in_funcs) - {node.name}))  # a recursive step is its own parent


def _closed_foreach(nodes: Mapping[str, GraphNode], node: GraphNode) -> str | None:
    if node.type != "join":
        return None
    return next(
        (
            name
            for name, other in nodes.items()
            if other.type == "foreach" and other.matching_join == node.name
        ),
        None,
    )


def _innermost_foreach(nodes: Mapping[str, GraphNode], node: GraphNode) -> str | None:
    stack = [name for name in node.split_parents if nodes[name].type == "foreach"]
    join_of = _closed_foreach(nodes, node)
    if join_of is not None and stack and stack[-1] == join_of:
        stack.pop()  # a join's split parents include the foreach it closes
    return stack[-1] if stack else None


# --- A DAG, as the start task saw it ------------------------------------------------------


@dataclass(frozen=True)
class TaskWiring:
    """One Metaflow step task of a DAG, as it is written."""

    task_id: str
    step: str
    # The task id the provider finds this step's task by: the step's name (in its flow group).
    step_task_id: str
    inputs: list[str] = field(default_factory=list)
    foreach: str | None = None
    join_of: str | None = None
    conditional: bool = False
    upstream: list[str] = field(default_factory=list)  # every task that runs before it (`>>`)
    mapped_over: str | None = None  # the .expand() argument; None when not mapped
    mapped_from: str | None = None  # the task whose output it is mapped over


@dataclass(frozen=True)
class DagWiring:
    """The step tasks of one flow instance in a DAG, and its splits tasks (task id -> foreach)."""

    dag_id: str
    flow: str
    tasks: list[TaskWiring] = field(default_factory=list)
    splits_tasks: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> DagWiring:
        data = json.loads(text)
        return cls(
            dag_id=str(data["dag_id"]),
            flow=str(data["flow"]),
            tasks=[TaskWiring(**task) for task in data.get("tasks") or []],
            splits_tasks={str(k): str(v) for k, v in (data.get("splits_tasks") or {}).items()},
        )


def wiring_problems(nodes: Mapping[str, GraphNode], dag: DagWiring) -> list[str]:
    """Every way the DAG's tasks disagree with the graph, each naming the step and the field,
    what the graph says, what the DAG says and what to write instead."""
    expected = expected_wiring(nodes)
    by_step: dict[str, list[TaskWiring]] = {}
    for task in dag.tasks:
        by_step.setdefault(task.step, []).append(task)
    problems = [_missing(step, wiring) for step, wiring in expected.items() if step not in by_step]
    for task in dag.tasks:
        if task.step not in expected:
            problems.append(
                f"task {task.task_id!r}: it runs step={task.step!r}, which flow {dag.flow} does not "
                f"have (its steps: {', '.join(expected)}). Name one of them, or remove the task."
            )
    for step, tasks in by_step.items():
        if len(tasks) > 1:
            problems.append(
                f"step {step!r}: the graph runs it once per run, the DAG has {len(tasks)} tasks for it "
                f"({', '.join(repr(task.task_id) for task in tasks)}). Keep one, or put each instance "
                "of the flow in a TaskGroup of its own."
            )
    task_ids = {step: tasks[0].task_id for step, tasks in by_step.items()}
    for task in dag.tasks:
        if task.step in expected:
            problems += _task_problems(task, expected[task.step], task_ids, dag.splits_tasks)
    return problems


def refusal(dag: DagWiring, problems: Sequence[str]) -> str:
    """The start task's refusal: every problem at once, and nothing of the run started."""
    listed = "".join(f"\n- {problem}" for problem in problems)
    return (
        f"DAG {dag.dag_id} wires the steps of flow {dag.flow} differently from the flow's graph, so "
        f"the run would be wrong; the start step did not run.{listed}\nFix the DAG file, or generate it with "
        "`python <flow file> airflow create <dag file>`."
    )


def _task_problems(
    task: TaskWiring, wiring: StepWiring, task_ids: Mapping[str, str], splits_tasks: Mapping[str, str]
) -> list[str]:
    """Each way one task disagrees with its step's wiring: (field, what is wrong, the fix)."""
    found: list[tuple[str, str, str]] = []
    if task.task_id != task.step_task_id:
        found.append(
            (
                "task_id",
                "the provider finds a step's task by the step's name (the steps after it read task "
                f"{task.step_task_id!r}), but the DAG names it {task.task_id!r}",
                f"Write task_id={task.step!r}",
            )
        )
    if set(task.inputs) != set(wiring.parents):
        graph = f"it runs after {_names(wiring.parents)}"
        found.append(
            ("inputs", _disagree(graph, f"inputs={sorted(task.inputs)!r}"), f"Write {_inputs(wiring)}")
        )
    for name, graph_value, dag_value in (
        ("foreach", wiring.foreach, task.foreach),
        ("join_of", wiring.join_of, task.join_of),
    ):
        if graph_value != dag_value:
            fix = f"Write {name}={graph_value!r}" if graph_value is not None else f"Leave {name} out"
            found.append((name, _disagree(f"{name}={graph_value!r}", f"{name}={dag_value!r}"), fix))
    if wiring.conditional != task.conditional:
        graph, fix = (
            ("it follows a switch, so it may not run", "Write conditional=True, trigger_rule='none_failed'")
            if wiring.conditional
            else ("no switch comes before it", "Leave conditional out")
        )
        found.append(("conditional", _disagree(graph, f"conditional={task.conditional}"), fix))
    for parent in wiring.parents:
        parent_task = task_ids.get(parent)
        if parent_task is not None and parent_task not in task.upstream:
            dag = f"task {parent_task!r} is not upstream of it, so it could start before its input exists"
            found.append(
                (">>", _disagree(f"it runs after {parent!r}", dag), f"Add {parent_task} >> {task.task_id}")
            )
    mapping = _mapping_problem(task, wiring, task_ids, splits_tasks)
    if mapping is not None:
        found.append((".expand()", _disagree(*mapping), f"Write it as {_expand(wiring)}"))
    where = f"step {task.step!r} (task {task.task_id!r})"
    return [f"{where}, {field}: {text}. {fix}." for field, text, fix in found]


def _disagree(graph: str, dag: str) -> str:
    return f"the graph says {graph}; the DAG says {dag}"


def _mapping_problem(
    task: TaskWiring, wiring: StepWiring, task_ids: Mapping[str, str], splits_tasks: Mapping[str, str]
) -> tuple[str, str] | None:
    """A step in a foreach body is one mapped task, over its foreach's splits; no other step is:
    (what the graph says, what the DAG says) when the task is mapped otherwise."""
    if wiring.foreach is None:
        return (
            None
            if task.mapped_over is None
            else ("it runs once per run", f"it is mapped over {task.mapped_over}")
        )
    graph = f"it runs once per split of foreach {wiring.foreach!r}, mapped over {wiring.mapped_over}"
    if task.mapped_over is None:
        return graph, "it is not mapped"
    if task.mapped_over != wiring.mapped_over:
        return graph, f"it is mapped over {task.mapped_over}"
    foreach_task = task_ids.get(wiring.foreach, wiring.foreach)
    if wiring.mapped_over == SPLIT_INDEX:
        right = task.mapped_from == foreach_task
    else:
        right = splits_tasks.get(task.mapped_from or "") in {wiring.foreach, foreach_task}
    if right:
        return None
    source = f"the output of task {task.mapped_from!r}" if task.mapped_from else "a fixed list"
    return graph, f"it is mapped over {source}"


def _expand(wiring: StepWiring) -> str:
    """How a step in a foreach body is mapped (a step outside one is not)."""
    if wiring.mapped_over is None:
        return "a task without .partial().expand()"
    if wiring.mapped_over == SPLIT_INDEX:
        return f".partial(...).expand(split_index={wiring.foreach}.output)"
    return (
        f".partial(...).expand(index_path={wiring.foreach}_splits.output), with {wiring.foreach}_splits = "
        f"MetaflowSplitsOperator(task_id='{wiring.foreach}__splits', foreach={wiring.foreach!r}) after "
        f"{wiring.foreach}"
    )


def _missing(step: str, wiring: StepWiring) -> str:
    arguments = [f"task_id={step!r}", "flow=...", f"step={step!r}"]
    if wiring.parents:
        arguments.append(_inputs(wiring))
    if wiring.foreach is not None:
        arguments.append(f"foreach={wiring.foreach!r}")
    if wiring.join_of is not None:
        arguments.append(f"join_of={wiring.join_of!r}")
    if wiring.conditional:
        arguments += ["conditional=True", "trigger_rule='none_failed'"]
    operator = "MetaflowLoopOperator" if wiring.recursive else "MetaflowStepOperator"
    call = f"{operator}({', '.join(arguments)})"
    if wiring.mapped_over is not None:
        call += f", mapped with {_expand(wiring)}"
    graph = f"it runs after {_names(wiring.parents)}" if wiring.parents else "it is the first step"
    return f"step {step!r}: the graph says {graph}; the DAG has no task for it. Add {call}."


def _inputs(wiring: StepWiring) -> str:
    return f"inputs={list(wiring.parents)!r}"


def _names(steps: Sequence[str]) -> str:
    return ", ".join(repr(step) for step in steps) or "nothing (it is the first step)"
