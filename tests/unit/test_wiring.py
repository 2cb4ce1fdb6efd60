"""The wiring rule (the extension's `wiring` module) on the graphs of the test flows: what it
expects of each shape, and each way a DAG can disagree, reported all at once."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from flow_graphs import flow_graph_nodes

from metaflow_extensions.airflow_provider_metaflow.plugins.wiring import (
    INDEX_PATH,
    SPLIT_INDEX,
    DagWiring,
    GraphNode,
    StepWiring,
    TaskWiring,
    expected_wiring,
    refusal,
    wiring_problems,
)

FLOWS = Path(__file__).resolve().parents[1] / "flows"


def _nodes(flow_file: str) -> dict[str, GraphNode]:
    return flow_graph_nodes(FLOWS / flow_file)


def _as_generated(nodes: dict[str, GraphNode]) -> DagWiring:
    """The DAG `airflow create` writes for the graph, as the start task describes it."""
    expected = expected_wiring(nodes)
    ancestors: dict[str, set[str]] = {}

    def before(step: str) -> set[str]:
        if step not in ancestors:
            direct = set(expected[step].parents)
            if expected[step].mapped_over == INDEX_PATH:
                direct.add(f"{expected[step].foreach}__splits")
            ancestors[step] = direct.union(*(before(p) for p in expected[step].parents))
        return ancestors[step]

    tasks = [
        TaskWiring(
            task_id=step,
            step=step,
            step_task_id=step,
            inputs=list(wiring.parents),
            foreach=wiring.foreach,
            join_of=wiring.join_of,
            conditional=wiring.conditional,
            upstream=sorted(before(step)),
            mapped_over=wiring.mapped_over,
            mapped_from=None
            if wiring.foreach is None
            else wiring.foreach
            if wiring.mapped_over == SPLIT_INDEX
            else f"{wiring.foreach}__splits",
        )
        for step, wiring in expected.items()
    ]
    splits = {f"{step}__splits": step for step, wiring in expected.items() if wiring.splits_task}
    return DagWiring(dag_id="d", flow="F", tasks=tasks, splits_tasks=splits)


def _changed(dag: DagWiring, step: str, **changes: Any) -> DagWiring:
    tasks = [dataclasses.replace(t, **changes) if t.step == step else t for t in dag.tasks]
    return dataclasses.replace(dag, tasks=tasks)


def _wiring(**fields: Any) -> StepWiring:
    defaults: dict[str, Any] = {
        "parents": (),
        "foreach": None,
        "join_of": None,
        "conditional": False,
        "recursive": False,
        "mapped_over": None,
        "splits_task": False,
    }
    return StepWiring(**{**defaults, **fields})


def test_a_foreach_maps_its_body_and_its_join_closes_it() -> None:
    assert expected_wiring(_nodes("foreach_flow.py")) == {
        "start": _wiring(),
        "measure": _wiring(parents=("start",), foreach="start", mapped_over=SPLIT_INDEX),
        "join": _wiring(parents=("measure",), join_of="start"),
        "end": _wiring(parents=("join",)),
    }


def test_nested_foreaches_map_over_index_paths_after_a_splits_task() -> None:
    wiring = expected_wiring(_nodes("nested_foreach_flow.py"))

    assert wiring["outer"] == _wiring(parents=("start",), foreach="start", mapped_over=SPLIT_INDEX)
    assert wiring["middle"] == _wiring(
        parents=("prepare",), foreach="prepare", mapped_over=INDEX_PATH, splits_task=True
    )
    assert wiring["prepare"].splits_task and not wiring["start"].splits_task
    assert wiring["inner_more"] == _wiring(parents=("inner",), foreach="middle", mapped_over=INDEX_PATH)
    assert wiring["join_parts"] == _wiring(
        parents=("inner_more",), foreach="prepare", join_of="middle", mapped_over=INDEX_PATH
    )
    assert wiring["join_members"] == _wiring(
        parents=("join_parts",), foreach="start", join_of="prepare", mapped_over=SPLIT_INDEX
    )
    assert wiring["join_groups"] == _wiring(parents=("after_members",), join_of="start")


def test_everything_after_a_switch_is_conditional() -> None:
    wiring = expected_wiring(_nodes("switch_flow.py"))

    conditional = {step for step, w in wiring.items() if w.conditional}
    assert conditional == {"small", "small_more", "big", "big_body", "big_join", "merge", "end"}
    assert wiring["merge"].parents == ("big_join", "small_more")


def test_a_recursive_switch_is_not_its_own_parent() -> None:
    wiring = expected_wiring(_nodes("recursive_flow.py"))

    loop = next(step for step, w in wiring.items() if w.recursive)
    assert loop not in wiring[loop].parents
    assert all(wiring[step].conditional for step, w in wiring.items() if loop in w.parents)


@pytest.mark.parametrize(
    "flow_file",
    [
        "linear_flow.py",
        "branch_flow.py",
        "foreach_flow.py",
        "nested_foreach_flow.py",
        "branchy_foreach_flow.py",
        "switch_flow.py",
        "switch_in_foreach_flow.py",
        "switch_into_foreach_join_flow.py",
        "recursive_flow.py",
        "recursive_in_foreach_flow.py",
    ],
)
def test_what_the_rule_writes_passes_its_own_check(flow_file: str) -> None:
    nodes = _nodes(flow_file)

    assert wiring_problems(nodes, _as_generated(nodes)) == []


@pytest.fixture(scope="module")
def foreach_nodes() -> dict[str, GraphNode]:
    return _nodes("foreach_flow.py")


def test_wrong_inputs_name_the_step_and_what_to_write(foreach_nodes: dict[str, GraphNode]) -> None:
    dag = _changed(_as_generated(foreach_nodes), "join", inputs=["start"])

    assert wiring_problems(foreach_nodes, dag) == [
        "step 'join' (task 'join'), inputs: the graph says it runs after 'measure'; the DAG says "
        "inputs=['start']. Write inputs=['measure']."
    ]


def test_inputs_compare_as_sets() -> None:
    nodes = _nodes("branch_flow.py")
    dag = _as_generated(nodes)
    join = next(t for t in dag.tasks if len(t.inputs) > 1)

    assert wiring_problems(nodes, _changed(dag, join.step, inputs=list(reversed(join.inputs)))) == []


def test_a_foreach_body_without_foreach_and_unmapped(foreach_nodes: dict[str, GraphNode]) -> None:
    dag = _changed(_as_generated(foreach_nodes), "measure", foreach=None, mapped_over=None, mapped_from=None)

    assert wiring_problems(foreach_nodes, dag) == [
        "step 'measure' (task 'measure'), foreach: the graph says foreach='start'; the DAG says "
        "foreach=None. Write foreach='start'.",
        "step 'measure' (task 'measure'), .expand(): the graph says it runs once per split of foreach "
        "'start', mapped over split_index; the DAG says it is not mapped. Write it as "
        ".partial(...).expand(split_index=start.output).",
    ]


def test_a_body_mapped_over_another_list(foreach_nodes: dict[str, GraphNode]) -> None:
    dag = _changed(_as_generated(foreach_nodes), "measure", mapped_from="prepare_input")

    (problem,) = wiring_problems(foreach_nodes, dag)
    assert "the DAG says it is mapped over the output of task 'prepare_input'" in problem


def test_a_missing_edge_names_both_tasks(foreach_nodes: dict[str, GraphNode]) -> None:
    dag = _changed(_as_generated(foreach_nodes), "end", upstream=["start"])

    assert wiring_problems(foreach_nodes, dag) == [
        "step 'end' (task 'end'), >>: the graph says it runs after 'join'; the DAG says task 'join' is "
        "not upstream of it, so it could start before its input exists. Add join >> end."
    ]


def test_a_missing_step_says_what_to_add(foreach_nodes: dict[str, GraphNode]) -> None:
    dag = _as_generated(foreach_nodes)
    dag = dataclasses.replace(dag, tasks=[t for t in dag.tasks if t.step != "join"])

    assert wiring_problems(foreach_nodes, dag) == [
        "step 'join': the graph says it runs after 'measure'; the DAG has no task for it. Add "
        "MetaflowStepOperator(task_id='join', flow=..., step='join', inputs=['measure'], join_of='start')."
    ]


def test_a_task_id_other_than_the_step_name(foreach_nodes: dict[str, GraphNode]) -> None:
    dag = _as_generated(foreach_nodes)
    dag = _changed(dag, "join", task_id="combine")
    dag = _changed(dag, "end", upstream=["combine", "measure", "start"])

    assert wiring_problems(foreach_nodes, dag) == [
        "step 'join' (task 'combine'), task_id: the provider finds a step's task by the step's name (the "
        "steps after it read task 'join'), but the DAG names it 'combine'. Write task_id='join'."
    ]


def test_a_step_the_flow_does_not_have_and_a_step_twice(foreach_nodes: dict[str, GraphNode]) -> None:
    dag = _as_generated(foreach_nodes)
    extra = [dataclasses.replace(dag.tasks[-1], task_id="end2"), TaskWiring("typo", "ned", "ned")]
    dag = dataclasses.replace(dag, tasks=[*dag.tasks, *extra])

    problems = wiring_problems(foreach_nodes, dag)

    assert problems[0].startswith("task 'typo': it runs step='ned', which flow F does not have")
    assert problems[1].startswith("step 'end': the graph runs it once per run, the DAG has 2 tasks")
    assert problems[2].startswith("step 'end' (task 'end2'), task_id:")
    assert len(problems) == 3


def test_a_nested_body_mapped_over_split_indexes() -> None:
    nodes = _nodes("nested_foreach_flow.py")
    dag = _changed(_as_generated(nodes), "inner", mapped_over=SPLIT_INDEX, mapped_from="middle")

    (problem,) = wiring_problems(nodes, dag)
    assert problem.startswith("step 'inner' (task 'inner'), .expand(): the graph says it runs once per ")
    assert "mapped over index_path; the DAG says it is mapped over split_index" in problem
    assert "MetaflowSplitsOperator(task_id='middle__splits', foreach='middle')" in problem


def test_conditional_both_ways() -> None:
    nodes = _nodes("switch_flow.py")
    dag = _changed(_changed(_as_generated(nodes), "small", conditional=False), "start", conditional=True)

    assert wiring_problems(nodes, dag) == [
        "step 'start' (task 'start'), conditional: the graph says no switch comes before it; the DAG says "
        "conditional=True. Leave conditional out.",
        "step 'small' (task 'small'), conditional: the graph says it follows a switch, so it may not run; "
        "the DAG says conditional=False. Write conditional=True, trigger_rule='none_failed'.",
    ]


def test_every_problem_is_reported_at_once(foreach_nodes: dict[str, GraphNode]) -> None:
    dag = _as_generated(foreach_nodes)
    dag = _changed(dag, "join", inputs=[], join_of=None, upstream=[])
    dag = dataclasses.replace(dag, tasks=[t for t in dag.tasks if t.step != "end"])

    problems = wiring_problems(foreach_nodes, dag)
    text = refusal(dag, problems)

    assert len(problems) == 4  # end missing; join's inputs, join_of and >>
    assert text.startswith("DAG d wires the steps of flow F differently from the flow's graph")
    assert all(f"\n- {problem}" in text for problem in problems)


def test_the_dag_wiring_round_trips_through_json(foreach_nodes: dict[str, GraphNode]) -> None:
    dag = _as_generated(_nodes("nested_foreach_flow.py"))

    assert DagWiring.from_json(dag.to_json()) == dag
