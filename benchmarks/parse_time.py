"""Airflow parse time of a generated Metaflow DAG against a hand-written DAG of the same shape.

For each shape and step count the script writes a Metaflow flow, compiles it with
``python flow.py airflow create``, writes an equivalent DAG of ``EmptyOperator`` tasks by hand, and times a
real ``DagBag(dag_folder=FILE)`` load of each file. The project's goal is a generated DAG that parses within
1.2x of the hand-written one. Timings are printed, never asserted.

The ``group`` layout does the same for a flow as a TaskGroup: a DAG that calls the factory of the module
``airflow create --task-group`` wrote (the module is imported by that load, as in Airflow's DAG processor),
against the same DAG with the ``EmptyOperator`` tasks in a plain ``TaskGroup``.

Isolation: every load runs in a fresh process that has never loaded either DAG file. By default a worker
interpreter imports Airflow once (its cold import time is reported separately) and forks one child per load,
the way Airflow's DAG processor forks a child per file parse. ``--spawn`` starts a new interpreter for every
load instead: stricter, and about 4 s per load on a small machine.

Conditions follow Airflow's DAG processor (benchmarks/README.md says why): before forking, the worker
imports the processor's modules and the DAG files' ``airflow.*`` imports (``--no-pre-import`` skips the
latter) and freezes its heap; modules and DAG files load from bytecode (``--bytecode``). Each child also
serializes the loaded DAG, the processor's next step, for the ``+serialize`` column.

Run with ``python benchmarks/parse_time.py [--steps 10 100] [--repeats 7] [--shapes linear foreach]``.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common import bench_environment, compile_flow, environment_line, print_table

from airflow_provider_metaflow.compiler.render_group import factory_name

if TYPE_CHECKING:
    from airflow.dag_processing.dagbag import DagBag

GOAL_RATIO = 1.2
RESULT_MARKER = "PARSE_TIME_RESULT "
SHAPES = ("linear", "foreach")
LAYOUTS = ("dag", "group")
MIN_STEPS = {"linear": 2, "foreach": 4}
VARIANTS = ("generated", "handwritten")
# Keyword arguments the compiler gives DAG(); the hand-written baseline uses the same ones.
DAG_KWARGS = "schedule=None, catchup=False, tags=['metaflow'], max_active_tasks=100"


@dataclass(frozen=True)
class Case:
    """One flow shape at one size."""

    shape: str
    steps: int
    layout: str = "dag"

    @property
    def flow_name(self) -> str:
        """Flow class name, also the DAG id."""
        suffix = "" if self.layout == "dag" else "Group"
        return f"{self.shape.capitalize()}{self.steps}{suffix}Flow"

    @property
    def slug(self) -> str:
        """File name stem."""
        return f"{self.shape}_{self.steps}_{self.layout}"

    def step_names(self) -> list[str]:
        """Step names in order: start, [body (mapped), join,] s1, s2, ..., end."""
        head = ["start", "body", "join"] if self.shape == "foreach" else ["start"]
        middle = [f"s{i}" for i in range(1, self.steps - len(head))]
        return [*head, *middle, "end"]


def flow_source(case: Case) -> str:
    """Source of a Metaflow flow file with the case's shape."""
    names = case.step_names()
    lines = ["from metaflow import FlowSpec, step", "", "", f"class {case.flow_name}(FlowSpec):"]
    for index, name in enumerate(names):
        if name == "start" and case.shape == "foreach":
            body = ["self.items = [1, 2, 3]", "self.next(self.body, foreach='items')"]
        elif index + 1 < len(names):
            body = [f"self.next(self.{names[index + 1]})"]
        else:
            body = ["pass"]
        signature = "self, inputs" if name == "join" else "self"
        lines += ["    @step", f"    def {name}({signature}):", *(f"        {line}" for line in body), ""]
    lines += ["", 'if __name__ == "__main__":', f"    {case.flow_name}()", ""]
    return "\n".join(lines)


def handwritten_source(case: Case) -> str:
    """Source of a DAG of EmptyOperators with the same task ids, mapping and edges as the generated one.

    The mapped foreach body maps EmptyOperator over a BaseOperator argument (``doc``): Airflow accepts it
    at parse time, so both files exercise task mapping with the same upstream ``.output``.
    """
    names = case.step_names()
    grouped = case.layout == "group"
    indent = "        " if grouped else "    "
    lines = [
        f'"""Hand-written baseline for {case.flow_name}."""',
        "",
        "from airflow.providers.standard.operators.empty import EmptyOperator",
        f"from airflow.sdk import DAG{', TaskGroup' if grouped else ''}",
        "",
        f"with DAG(dag_id={case.flow_name!r}, {DAG_KWARGS}) as dag:",
        *(["    with TaskGroup('flow'):"] if grouped else []),
    ]
    for name in names:
        if name == "body":
            lines.append(f"{indent}body = EmptyOperator.partial(task_id='body').expand(doc=start.output)")
        else:
            lines.append(f"{indent}{name} = EmptyOperator(task_id={name!r})")
    lines += [
        f"{indent}{upstream} >> {downstream}" for upstream, downstream in zip(names, names[1:], strict=False)
    ]
    return "\n".join(lines) + "\n"


def group_host_source(case: Case, module: str, factory: str) -> str:
    """A DAG holding the flow as one group, through the factory of its `--task-group` module."""
    return "\n".join(
        [
            f'"""{case.flow_name} as a TaskGroup."""',
            "",
            "from airflow.sdk import DAG",
            f"from {module} import {factory}",
            "",
            f"with DAG(dag_id={case.flow_name!r}, {DAG_KWARGS}) as dag:",
            f"    {factory}(group_id='flow')",
            "",
        ]
    )


def load_once(dagbag_class: type[DagBag], path: str) -> dict[str, Any]:
    """Time a cold DagBag load of one file and the serialization of its DAGs, then a warm load in the
    same process, and describe the DAG."""
    from airflow.serialization.serialized_objects import DagSerialization

    wall, cpu = time.perf_counter(), time.process_time()
    bag = dagbag_class(dag_folder=path)
    cold_ms, cold_cpu_ms = (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000
    cpu = time.process_time()
    for dag in bag.dags.values():
        DagSerialization.to_dict(dag)
    serialize_cpu_ms = (time.process_time() - cpu) * 1000
    metaflow_loaded = any(name == "metaflow" or name.startswith("metaflow.") for name in sys.modules)
    start = time.perf_counter()
    dagbag_class(dag_folder=path)
    warm_ms = (time.perf_counter() - start) * 1000

    from airflow.sdk.definitions.mappedoperator import MappedOperator

    shape = {
        dag_id: {
            task.task_id: [isinstance(task, MappedOperator), sorted(task.downstream_task_ids)]
            for task in dag.tasks
        }
        for dag_id, dag in bag.dags.items()
    }
    return {
        "cold_ms": cold_ms,
        "cold_cpu_ms": cold_cpu_ms,
        "serialize_cpu_ms": serialize_cpu_ms,
        "warm_ms": warm_ms,
        "metaflow_loaded": metaflow_loaded,
        "import_errors": dict(bag.import_errors),
        "shape": shape,
    }


def load_in_child(dagbag_class: type[DagBag], path: str) -> dict[str, Any]:
    """Run load_once in a forked child, so no load sees modules imported by another."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            payload = load_once(dagbag_class, path)
        except BaseException as exc:  # report anything to the parent, never run its code on
            payload = {"error": repr(exc)}
        with os.fdopen(write_fd, "w") as pipe:
            json.dump(payload, pipe)
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(data) if data else {"error": "child wrote nothing"}


def worker(paths: list[str], pre_import: bool) -> None:
    """Import Airflow (timed), load each file in its own child, print the results as one JSON line.

    Before forking, the worker holds what Airflow's DAG processor holds when it forks a parsing child:
    its own modules, the DAG files' ``airflow.*`` imports (unless told otherwise), and a frozen heap
    (``gc.freeze()``), so a child's garbage collections skip the objects it inherited.
    """
    start = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag

    # The dags folder is the bundle root, which Airflow puts on sys.path for the modules DAGs import.
    sys.path.append(os.path.dirname(paths[0]))

    import_ms = (time.perf_counter() - start) * 1000
    importlib.import_module("airflow.dag_processing.processor")
    if pre_import:
        pre_import_airflow_modules(paths)
    gc.freeze()
    loads = {path: load_in_child(DagBag, path) for path in paths}
    print(RESULT_MARKER + json.dumps({"import_ms": import_ms, "loads": loads}), flush=True)


def pre_import_airflow_modules(paths: list[str]) -> None:
    """Import the ``airflow.*`` modules the files import, as Airflow's DAG processor does before it forks
    the child that parses a file (``[dag_processor] parsing_pre_import_modules``, on by default)."""
    from airflow.utils.file import iter_airflow_imports

    for path in paths:
        for module in iter_airflow_imports(path):
            importlib.import_module(module)


def run_worker(paths: list[Path], env: dict[str, str], pre_import: bool) -> dict[str, Any]:
    """Start a fresh interpreter running worker() on the given files and return its results."""
    command = [sys.executable, __file__, "--worker", *map(str, paths)]
    if not pre_import:
        command.append("--no-pre-import")
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    for line in reversed(result.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER) :])
    sys.exit(f"worker failed ({result.returncode}):\n{result.stdout}{result.stderr}")


def write_local_settings(airflow_home: Path) -> None:
    """The deployment option for this provider's import cost: Airflow imports
    ``$AIRFLOW_HOME/config/airflow_local_settings.py`` when it starts, in every process, so the DAG
    processor's parsing children inherit what it imports."""
    config = airflow_home / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "airflow_local_settings.py").write_text(
        "import airflow_provider_metaflow.operators.foreach  # noqa: F401  (imports the step operator too)\n"
    )


BYTECODE_MODES = ("all", "modules", "none")


def bytecode_environment(env: dict[str, str], root: Path, mode: str) -> dict[str, str]:
    """env for the workers: bytecode caches written under root, or never written (mode "none")."""
    env = dict(env)
    if mode == "none":
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    return env


def drop_dag_bytecode(env: dict[str, str], dags: Path) -> dict[str, str]:
    """Remove the DAG files' caches written by the warm-up; the returned env writes no new ones."""
    shutil.rmtree(Path(env["PYTHONPYCACHEPREFIX"], *dags.absolute().parts[1:]), ignore_errors=True)
    return {**env, "PYTHONDONTWRITEBYTECODE": "1"}


def yes_no(value: bool) -> str:
    """Render a boolean for the table."""
    return "yes" if value else "no"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--steps", type=int, nargs="+", default=[10, 100], help="flow sizes (default: 10 100)"
    )
    parser.add_argument(
        "--repeats", type=int, default=7, help="loads per file; the median is shown (default: 7)"
    )
    parser.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES), help="flow shapes")
    parser.add_argument(
        "--layouts",
        nargs="+",
        choices=LAYOUTS,
        default=list(LAYOUTS),
        help="dag: a generated DAG; group: a DAG with the flow as a --task-group TaskGroup",
    )
    parser.add_argument("--spawn", action="store_true", help="a new interpreter per load instead of a fork")
    parser.add_argument(
        "--no-pre-import",
        dest="pre_import",
        action="store_false",
        help="do not import the DAG files' airflow.* modules before forking (Airflow does by default)",
    )
    parser.add_argument(
        "--bytecode",
        choices=BYTECODE_MODES,
        default="all",
        help="what loads from bytecode: all (default), modules (DAG files compile on every load), "
        "none (no cache is written: DAG files and uncached modules compile on every load)",
    )
    parser.add_argument(
        "--local-settings",
        action="store_true",
        help="import this provider's operators in airflow_local_settings.py, which every Airflow process "
        "imports at start, so forked parsing children inherit them (the documented deployment option)",
    )
    parser.add_argument("--worker", nargs="+", metavar="DAG_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    for shape in args.shapes:
        if min(args.steps) < MIN_STEPS[shape]:
            parser.error(f"the {shape} shape needs at least {MIN_STEPS[shape]} steps")
    return args


# Per-load measurements kept for the table, as returned by load_once.
METRICS = ("cold_ms", "cold_cpu_ms", "serialize_cpu_ms", "warm_ms")


def table_rows(
    cases: list[Case],
    files: dict[tuple[Case, str], Path],
    samples: dict[str, dict[str, list[float]]],
    check: dict[str, Any],
    metaflow_loaded: dict[str, bool],
) -> list[list[str]]:
    """One table row per case: medians of the generated and hand-written files and their ratios."""
    rows = []
    for case in cases:
        gen, hand = (
            {metric: statistics.median(samples[str(files[case, variant])][metric]) for metric in METRICS}
            for variant in VARIANTS
        )
        gen_shape, hand_shape = (
            next(iter(check[str(files[case, variant])]["shape"].values())) for variant in VARIANTS
        )
        gen_processor = gen["cold_cpu_ms"] + gen["serialize_cpu_ms"]
        hand_processor = hand["cold_cpu_ms"] + hand["serialize_cpu_ms"]
        rows.append(
            [
                case.shape,
                case.layout,
                str(case.steps),
                f"{gen['cold_ms']:.1f}",
                f"{hand['cold_ms']:.1f}",
                f"{gen['cold_ms'] / hand['cold_ms']:.2f}x",
                f"{gen['cold_cpu_ms']:.1f}",
                f"{hand['cold_cpu_ms']:.1f}",
                f"{gen['cold_cpu_ms'] / hand['cold_cpu_ms']:.2f}x",
                f"{gen_processor / hand_processor:.2f}x",
                f"{gen['warm_ms'] / hand['warm_ms']:.2f}x",
                yes_no(gen_shape == hand_shape),
                yes_no(metaflow_loaded[str(files[case, "generated"])]),
            ]
        )
    return rows


HEADERS = [
    "shape",
    "layout",
    "steps",
    "generated ms",
    "hand-written ms",
    "ratio",
    "gen cpu ms",
    "hand cpu ms",
    "cpu ratio",
    "+serialize cpu ratio",
    "warm ratio",
    "same shape",
    "metaflow in sys.modules",
]


def main(argv: list[str] | None = None) -> None:
    """Generate the flows and baselines, time their DagBag loads and print the comparison."""
    args = parse_args(argv)
    if args.worker:
        worker(args.worker, args.pre_import)
        return

    began = time.perf_counter()
    cases = [
        Case(shape, steps, layout) for layout in args.layouts for shape in args.shapes for steps in args.steps
    ]
    with tempfile.TemporaryDirectory(prefix="parse-time-") as tmp:
        root = Path(tmp)
        flows, dags = root / "flows", root / "dags"
        flows.mkdir()
        dags.mkdir()
        env = bytecode_environment(bench_environment(root, dags), root, args.bytecode)
        if args.local_settings:
            write_local_settings(Path(env["AIRFLOW_HOME"]))

        files: dict[tuple[Case, str], Path] = {}
        for case in cases:
            flow_file = flows / f"{case.slug}.py"
            flow_file.write_text(flow_source(case))
            files[case, "generated"] = dags / f"{case.slug}_generated.py"
            if case.layout == "group":
                module = dags / f"{case.slug}_module.py"
                compile_flow(flow_file, module, env, "--task-group")
                factory = factory_name(case.flow_name)
                files[case, "generated"].write_text(group_host_source(case, module.stem, factory))
            else:
                compile_flow(flow_file, files[case, "generated"], env)
            files[case, "handwritten"] = dags / f"{case.slug}_handwritten.py"
            files[case, "handwritten"].write_text(handwritten_source(case))
        all_files = list(files.values())

        # Warm-up: writes airflow.cfg and the bytecode caches (unless told not to); also checks every
        # file loads.
        check = run_worker(all_files, env, args.pre_import)["loads"]
        for path, result in check.items():
            if result.get("error") or result["import_errors"] or len(result["shape"]) != 1:
                sys.exit(f"{path} did not load as one DAG: {json.dumps(result, indent=2)}")
        if args.bytecode == "modules":
            env = drop_dag_bytecode(env, dags)

        samples: dict[str, dict[str, list[float]]] = {
            str(path): {metric: [] for metric in METRICS} for path in all_files
        }
        metaflow_loaded: dict[str, bool] = {str(path): False for path in all_files}
        import_ms: list[float] = []
        for repeat in range(args.repeats):
            order = all_files[:]
            random.Random(repeat).shuffle(order)  # no file always goes first or last
            batches = [[path] for path in order] if args.spawn else [order]
            for batch in batches:
                results = run_worker(batch, env, args.pre_import)
                import_ms.append(results["import_ms"])
                for path, result in results["loads"].items():
                    if "error" in result:
                        sys.exit(f"loading {path} failed: {result['error']}")
                    for metric in METRICS:
                        samples[path][metric].append(result[metric])
                    metaflow_loaded[path] |= result["metaflow_loaded"]

    print_table(HEADERS, table_rows(cases, files, samples, check, metaflow_loaded))
    print()
    print(
        f"Medians of {args.repeats} loads per file, each DagBag(dag_folder=FILE) call in a fresh "
        f"{'interpreter' if args.spawn else 'forked process'}; goal: ratio <= {GOAL_RATIO}x."
    )
    print(
        "cpu = CPU time of that process (steadier than wall time on a busy machine); "
        "+serialize adds DagSerialization.to_dict of the loaded DAG, the DAG processor's next step."
    )
    print("warm = a second load of the same file in the same process (modules already imported).")
    print(
        f"Airflow's airflow.* imports pre-imported before forking: {yes_no(args.pre_import)}; "
        f"bytecode: {args.bytecode}; provider imported in airflow_local_settings: "
        f"{yes_no(args.local_settings)}."
    )
    print(
        "Cold `from airflow.dag_processing.dagbag import DagBag` (not included above): "
        f"median {statistics.median(import_ms):.0f} ms over {len(import_ms)} interpreters."
    )
    print(environment_line(began))


if __name__ == "__main__":
    main()
