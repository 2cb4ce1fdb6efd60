"""Adversarial names and values: quotes, Jinja braces, shell syntax, backslashes, unicode and newlines.

Whatever a flow or `airflow create` is given, the generated DAG must load, hold the value only as
a Python literal, and hand it to the flow unchanged: never templated, never run by a shell.
What Metaflow itself refuses must make `airflow create` fail and write no DAG file.
"""

from __future__ import annotations

import ast
import io
import json
import os
import shutil
import subprocess
import sys
import tokenize
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_metaflow.testing import (
    create_dag,
    run_dag,
    run_flow_locally,
    task_artifacts,
    task_counts,
)
from airflow_provider_metaflow.version_compat import get_dagbag_class

# Literals also written in tests/flows/adversarial_values.py: the flow must see exactly these.
STATIC = (
    'it\'s "quoted" {{ 7*7 }} {% if x %}{% endif %} {} $HOME $(echo static) `echo static` '
    "\\ ü 🎉 中文\nline 2"
)
HELP = "help with 'quotes' \"double\" {{ ds }} {% raw %} {} $(echo help) `echo help` \\ é 🎉 中\nsecond line"
DOC = (
    "Adversarial text: 'single' \"double\" {{ ds }} {% raw %}{% endraw %} {} $HOME $(echo no) `echo no`\n"
    "back\\slash \\n éàü 🎉 中文 日本語 and a second line."
)
NAMES_FLOW = "FlüssÉtude中文Flow"
NAMES_PARAMETERS = {"größe", "dashed-name", "UpperCase", "class", "ds"}
NAMES_GRAPH = {
    "start": set(),
    "flow": {"start"},
    "datetime": {"flow", "start"},  # mapped over the foreach `start`: .expand() adds that edge
    "dag": {"datetime"},
    "annotations": {"dag"},
    "match": {"annotations"},
    "type": {"match"},
    "end": {"type"},
}
# A folder name no shell, Jinja environment or Python source may interpret.
TRICKY_FOLDER = 'it\'s "{{ ds }}" {% raw %} $(touch marker) `touch marker` back\\slash ü 🎉 中文'
# Files that the shell syntax in the values would create, were it ever run.
MARKER_FILES = frozenset({"dollar", "backtick", "semicolon", "marker"})
# Text that may appear in the generated file only inside string literals (or comments).
NEVER_IN_CODE = ("$", "`", "{{", "{%", "touch", "7*7", "\\", "\r")


def _tricky_values(markers: Path) -> dict[str, str]:
    """One value per kind of trouble; shell syntax would create files in `markers` if run."""
    return {
        "quotes": 'it\'s "double" \'\'\'triple\'\'\' """triple"""',
        "jinja": "{{ 7*7 }} {{ ds }} {% raw %}{{ x }}{% endraw %} {# comment #} {} {0} {{",
        "shell": (
            f"$(touch {markers / 'dollar'}) `touch {markers / 'backtick'}`; "
            f"touch {markers / 'semicolon'} && echo $HOME ${{HOME}} | cat"
        ),
        "backslash": "back\\slash \\n \\\\ \\' \\\" C:\\temp\\new",
        "unicode": "éàüñ ß 🎉🚀 中文 日本語 한국어 שלום",
        "newlines": "first\nsecond\r\nthird\ttabbed\n",
        "options": "--tag -x --namespace=",
    }


def _values_deployment(markers: Path) -> dict[str, Any]:
    """Tags, namespace, Config value and DAG params, all made of tricky values."""
    values = _tricky_values(markers)
    combined = " | ".join(values.values())
    config = {
        "text": combined,
        "env": values["shell"] + values["jinja"],
        "nested": {"list": list(values.values()), "{{ key }}": "$(key)", "é🎉": values["newlines"]},
    }
    return {
        "values": values,
        "tags": list(values.values()),
        "namespace": combined,
        "config": config,
        "conf": {"text": combined, "payload": {"{{ 7*7 }}": values, "list": list(values.values())}},
        "name": "adversarial.values-dag_1",
    }


def _airflow_create(
    flow_file: Path,
    dag_file: Path,
    *options: str,
    top_level: Sequence[str] = (),
    name: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python flow.py [TOP-LEVEL] airflow [--name N] create DAG [OPTIONS]`, without raising."""
    group = ["--name", name] if name is not None else []
    argv = [sys.executable, str(flow_file), *top_level, "airflow", *group, "create", str(dag_file), *options]
    return subprocess.run(  # noqa: S603 - argv list
        argv, cwd=flow_file.parent, capture_output=True, text=True, check=False
    )


def _create_values_dag(flow_file: Path, dag_file: Path, deployment: dict[str, Any]) -> None:
    options = [arg for tag in deployment["tags"] for arg in ("--tag", tag)]
    completed = _airflow_create(
        flow_file,
        dag_file,
        *options,
        "--namespace",
        deployment["namespace"],
        top_level=["--config-value", "values", json.dumps(deployment["config"])],
        name=deployment["name"],
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def _load(dag_file: Path) -> Any:
    bag = get_dagbag_class()(dag_folder=str(dag_file))
    assert bag.import_errors == {}
    (dag,) = bag.dags.values()
    return dag


def _string_literals(tree: ast.AST) -> list[str]:
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def _code_outside_literals(source: str) -> str:
    """The source with every string literal and comment left out."""
    skipped = {tokenize.STRING, tokenize.COMMENT}
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return " ".join(token.string for token in tokens if token.type not in skipped)


def _assert_only_literals(source: str, values: Iterable[str]) -> list[str]:
    """Each value is a string constant of the parsed source, and nothing outside literals
    carries any of their text; returns the source's string constants."""
    tree = ast.parse(source)
    assert not any(isinstance(node, ast.JoinedStr) for node in ast.walk(tree))
    literals = _string_literals(tree)
    for value in values:
        assert value in literals, f"{value!r} is not a literal of the generated DAG"
    code = _code_outside_literals(source)
    assert code.isascii(), code
    assert [text for text in NEVER_IN_CODE if text in code] == []
    return literals


def _assert_nothing_ran(*folders: Path) -> None:
    """No file that the shell syntax in the test values names exists in `folders`."""
    for folder in folders:
        assert sorted(p.name for p in folder.iterdir() if p.name in MARKER_FILES) == []


@pytest.fixture
def markers(tmp_path: Path) -> Path:
    """An empty folder that shell syntax in the test values would write into, were it ever run."""
    folder = tmp_path / "markers"
    folder.mkdir()
    return folder


# --- compiling: the DAG file holds every value as a literal and loads ---


def test_tricky_tags_namespace_config_help_and_docstring_are_literals_of_a_loading_dag(
    flow_copy: Any, tmp_path: Path, markers: Path
) -> None:
    """Tags, namespace, Config, @environment, Parameter defaults and help, and the docstring."""
    deployment = _values_deployment(markers)
    dag_file = tmp_path / "values_dag.py"

    _create_values_dag(flow_copy("adversarial_values.py"), dag_file, deployment)

    source = dag_file.read_text(encoding="utf-8")
    literals = _assert_only_literals(
        source,
        [*deployment["tags"], deployment["namespace"], deployment["name"], STATIC, HELP, DOC],
    )
    config_literals = [json.loads(text) for text in literals if text.startswith("[{")]
    assert config_literals == [[deployment["config"], False]]
    dag = _load(dag_file)
    assert dag.dag_id == deployment["name"]
    assert dag.doc_md == DOC
    assert dag.params["static"] == STATIC and dag.params["from_config"] == deployment["config"]["text"]
    assert dag.params["payload"] == {"key": "{{ 7*7 }}"}
    assert {dag.params.get_param(name).description for name in dag.params} == {HELP}
    start = dag.task_dict["start"]
    assert list(start.flow.tags) == deployment["tags"]
    assert start.flow.namespace == deployment["namespace"]
    assert json.loads(start.flow.configs["values"]) == [deployment["config"], False]
    assert start.environment == {
        "ADVERSARIAL_STATIC": STATIC,
        "ADVERSARIAL_CONFIG": deployment["config"]["env"],
    }
    _assert_nothing_ran(markers)


def test_unicode_flow_keyword_parameter_and_shadowing_step_names_compile_to_the_flows_graph(
    flow_copy: Any, tmp_path: Path
) -> None:
    """Steps named flow, datetime, dag, annotations, match and type do not shadow the DAG file's names."""
    dag_file = tmp_path / "names_dag.py"

    create_dag(flow_copy("adversarial_names.py"), dag_file, name="adversarial-names")

    _assert_only_literals(dag_file.read_text(encoding="utf-8"), [NAMES_FLOW, *NAMES_PARAMETERS])
    dag = _load(dag_file)
    assert {task_id: set(task.upstream_task_ids) for task_id, task in dag.task_dict.items()} == NAMES_GRAPH
    assert set(dag.params) == NAMES_PARAMETERS
    assert dag.task_dict["start"].flow.name == dag.task_dict["end"].flow.name == NAMES_FLOW
    assert dag.task_dict["type"].retries == 1  # its retry_delay uses `datetime`, after a step of that name


def test_flow_and_dag_in_folders_with_tricky_names_load_and_point_at_the_flow(
    flow_copy: Any, tmp_path: Path
) -> None:
    """The flow's relative path is a literal, and resolves from the DAG file to the flow file."""
    flow_folder = tmp_path / TRICKY_FOLDER / "flows"
    flow_folder.mkdir(parents=True)
    flow_file = flow_folder / "adversarial_values.py"
    shutil.copy(flow_copy("adversarial_values.py"), flow_file)
    dag_file = tmp_path / TRICKY_FOLDER / f"dags {TRICKY_FOLDER}" / "values_dag.py"

    create_dag(flow_file, dag_file)

    relative = os.path.relpath(flow_file, dag_file.parent)
    _assert_only_literals(dag_file.read_text(encoding="utf-8"), [relative])
    dag = _load(dag_file)
    assert dag.task_dict["start"].flow.resolve_file(dag.fileloc) == str(flow_file)
    _assert_nothing_ran(tmp_path, flow_folder, dag_file.parent, Path.cwd())


# --- compiling: what Metaflow or Airflow refuses fails clearly and writes nothing ---


@pytest.mark.parametrize(
    "dag_id",
    [
        "my dag",
        "{{ ds }}",
        "$(touch MARKER)",
        "`touch MARKER`",
        "it's",
        'say "hi"',
        "back\\slash",
        "a/b",
        "a:b",
        "first\nsecond",
        "dag;id",
        ".",
        "..",
        "x" * 251,
    ],
)
def test_dag_ids_airflow_refuses_fail_to_compile_and_write_no_file(
    dag_id: str, flow_copy: Any, tmp_path: Path, markers: Path
) -> None:
    dag_file = tmp_path / "refused_dag.py"
    dag_id = dag_id.replace("MARKER", str(markers / "dollar"))

    completed = _airflow_create(flow_copy("adversarial_values.py"), dag_file, name=dag_id)

    assert completed.returncode != 0
    assert f"DAG id {dag_id!r} is not a valid Airflow DAG id" in completed.stdout + completed.stderr
    assert not dag_file.exists()
    _assert_nothing_ran(markers)


@pytest.mark.parametrize(
    ("flow_name", "message"),
    [
        ("adversarial_refused_step.py", "Step étape has an invalid name"),
        ("adversarial_refused_parameter.py", "Parameter name 'tags' is a reserved word"),
    ],
)
def test_names_metaflow_refuses_fail_to_compile_and_write_no_file(
    flow_name: str, message: str, flow_copy: Any, tmp_path: Path
) -> None:
    dag_file = tmp_path / "refused_dag.py"

    completed = _airflow_create(flow_copy(flow_name), dag_file)

    assert completed.returncode != 0
    assert message in completed.stdout + completed.stderr
    assert not dag_file.exists()


def test_a_config_value_that_is_not_json_fails_to_compile_and_writes_no_file(
    flow_copy: Any, tmp_path: Path, markers: Path
) -> None:
    dag_file = tmp_path / "refused_dag.py"
    value = f"{{{{ 7*7 }}}} $(touch {markers / 'dollar'})"

    completed = _airflow_create(
        flow_copy("adversarial_values.py"), dag_file, top_level=["--config-value", "values", value]
    )

    assert completed.returncode != 0
    assert "configuration value for 'values' is not valid JSON" in completed.stdout + completed.stderr
    assert not dag_file.exists()
    _assert_nothing_ran(markers)


# --- running: every value reaches the flow exactly as with `python flow.py run` ---


@pytest.mark.e2e
def test_tricky_values_arrive_intact_and_nothing_is_executed(
    flow_copy: Any, dag_path: Path, airflow_db: Any, markers: Path
) -> None:
    """Parameters (set and default), Config, @environment, tags and namespace, through Airflow."""
    flow_file = flow_copy("adversarial_values.py")
    deployment = _values_deployment(markers)
    _create_values_dag(flow_file, dag_path, deployment)

    result = run_dag(dag_path, conf=deployment["conf"])

    assert result.state == "success"
    airflow_run = result.run()
    local_run = run_flow_locally(
        flow_file,
        deployment["conf"],
        extra=[
            *(arg for tag in deployment["tags"] for arg in ("--tag", tag)),
            "--namespace",
            deployment["namespace"],
        ],
        extra_top_level=["--config-value", "values", json.dumps(deployment["config"])],
    )
    assert airflow_run.successful and local_run.successful
    assert task_counts(airflow_run) == task_counts(local_run)
    assert task_artifacts(airflow_run) == task_artifacts(local_run)
    config = deployment["config"]
    seen = airflow_run["start"].task["seen"].data
    assert seen == {
        "text": deployment["conf"]["text"],
        "payload": deployment["conf"]["payload"],
        "static": STATIC,
        "from_config": config["text"],
        "config": config,
        "env": {"ADVERSARIAL_STATIC": STATIC, "ADVERSARIAL_CONFIG": config["env"]},
        "namespace": deployment["namespace"],
    }
    assert "{{ 7*7 }}" in seen["static"] and "49" not in seen["static"]  # text, never rendered by Jinja
    assert deployment["values"]["jinja"] in seen["text"] and "{{ 7*7 }}" in seen["payload"]
    assert local_run.user_tags == set(deployment["tags"])
    assert airflow_run.user_tags == {
        *deployment["tags"],
        f"airflow_dag_id:{deployment['name']}",
        f"airflow_run_id:{result.airflow_run_id}",
    }
    _assert_nothing_ran(markers, flow_file.parent)


@pytest.mark.e2e
def test_unicode_and_shadowing_names_in_a_tricky_folder_run_like_the_local_run(
    flow_copy: Any, dag_path: Path, airflow_db: Any
) -> None:
    """A unicode flow name, odd Parameter names, shadowing step names and a foreach, run from a
    flow file whose folder name is full of quotes, braces and shell syntax."""
    copied = flow_copy("adversarial_names.py")
    folder = copied.parent / TRICKY_FOLDER
    folder.mkdir(exist_ok=True)
    flow_file = Path(shutil.copy(copied, folder / copied.name))
    conf = {"größe": "größer {{ 7*7 }}", "dashed-name": "--dashed=$(touch marker)", "class": "`touch marker`"}
    create_dag(flow_file, dag_path, name="adversarial-names")

    result = run_dag(dag_path, conf=conf)

    assert result.state == "success"
    airflow_run = result.run()
    local_run = run_flow_locally(flow_file, conf)
    assert airflow_run.successful and local_run.successful
    assert task_counts(airflow_run) == task_counts(local_run)
    assert task_artifacts(airflow_run) == task_artifacts(local_run)
    assert airflow_run["end"].task["result"].data == {
        "seen": {**conf, "UpperCase": 1, "ds": "not {{ ds }}"},
        "marked": ["[{{ ds }}]", "[ü]"],
    }
    assert len(list(airflow_run["datetime"])) == 2
    _assert_nothing_ran(folder, copied.parent, dag_path.parent, Path.cwd())


@pytest.mark.parametrize(
    ("tag", "message"),
    [("", "Tags must not be empty string"), ("t" * 501, "Tag is too long")],
)
def test_tags_metaflow_refuses_fail_to_compile_and_write_no_file(
    tag: str, message: str, flow_copy: Any, tmp_path: Path
) -> None:
    dag_file = tmp_path / "refused_dag.py"

    completed = _airflow_create(flow_copy("adversarial_values.py"), dag_file, "--tag", tag)

    assert completed.returncode != 0
    assert message in completed.stdout + completed.stderr
    assert not dag_file.exists()
