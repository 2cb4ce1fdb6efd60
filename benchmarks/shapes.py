"""Cost of large flow shapes: compiling a deeply nested flow, and running a wide foreach end to end.

Two sub-benchmarks, each printing a markdown table. Timings are printed, never asserted.

``compile``
    Generates a Metaflow flow with three nested foreach levels (multi-step bodies at every level, plus linear
    steps before and after) and a flat linear flow with the same number of steps. Compiles each with
    ``python flow.py --quiet airflow create`` and reports the compile wall time, the generated DAG's size, its
    number of Airflow tasks and its ``DagBag`` parse time in a fresh interpreter.

``e2e``
    Runs a W-wide foreach flow (``start`` -> ``body`` x W -> ``join`` -> ``end``) through Airflow's
    ``dag.test()`` with the project's test harness, and with ``python flow.py run`` (Metaflow's own local
    runtime), and compares wall time and memory. ``dag.test()`` runs mapped tasks one at a time, so the run
    takes roughly W times the cost of one task (about a second each): ``--width 5000`` takes over an hour.

Run with ``python benchmarks/shapes.py compile [--steps 50] [--repeats 5]`` or
``python benchmarks/shapes.py e2e [--width 200] [--max-workers 16]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import bench_environment, compile_flow, environment_line, print_table

RESULT_MARKER = "SHAPES_RESULT "
NESTED_LEVELS = 3
# Steps outside the seven generated segments: start, the three joins and end.
NESTED_FIXED_STEPS = 5
NESTED_SEGMENTS = ("pre", "l1", "l2", "l3", "after2", "after1", "post")
MIN_NESTED_STEPS = NESTED_FIXED_STEPS + len(NESTED_SEGMENTS)
RSS_SAMPLE_SECONDS = 0.2


# ---------------------------------------------------------------------------------------------- helpers


def step_source(name: str, body: list[str], join: bool = False) -> list[str]:
    """Lines of one ``@step`` method."""
    signature = "self, inputs" if join else "self"
    return ["    @step", f"    def {name}({signature}):", *(f"        {line}" for line in body), ""]


def flow_file_source(flow_name: str, doc: str, steps: list[str]) -> str:
    """A complete flow file around the given step lines."""
    head = [
        "from metaflow import FlowSpec, step",
        "",
        "",
        f"class {flow_name}(FlowSpec):",
        f'    """{doc}"""',
        "",
    ]
    tail = ["", 'if __name__ == "__main__":', f"    {flow_name}()", ""]
    return "\n".join(head + steps + tail)


def max_rss_mib(who: int) -> float:
    """``getrusage(who).ru_maxrss`` in MiB (Linux reports KiB, macOS bytes)."""
    value = resource.getrusage(who).ru_maxrss
    return value / (1024 * 1024) if sys.platform == "darwin" else value / 1024


@contextmanager
def tree_rss_sampler() -> Iterator[dict[str, float]]:
    """Sample the RSS of this process and its descendants: peak of the sum, and of the largest descendant."""
    import psutil

    result = {"peak_mib": 0.0, "descendant_peak_mib": 0.0}
    done = threading.Event()
    me = psutil.Process()
    own_cmdline = me.cmdline()

    def rss_mib(process: psutil.Process) -> float:
        try:
            return float(process.memory_info().rss) / (1024 * 1024)
        except psutil.Error:  # the process ended between listing and reading
            return 0.0

    def started(process: psutil.Process) -> bool:
        """False for a fork of this process that has not called exec() yet: its RSS is ours, shared."""
        try:
            return bool(process.cmdline() != own_cmdline)
        except psutil.Error:
            return False

    def sample() -> None:
        while not done.is_set():
            descendants = [rss_mib(process) for process in me.children(recursive=True) if started(process)]
            result["peak_mib"] = max(result["peak_mib"], rss_mib(me) + sum(descendants))
            result["descendant_peak_mib"] = max(result["descendant_peak_mib"], *descendants, 0.0)
            done.wait(RSS_SAMPLE_SECONDS)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        done.set()
        thread.join()


def run_self(args: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> dict[str, Any]:
    """Run this script with hidden worker arguments and return the JSON result it prints."""
    command = [sys.executable, __file__, *args]
    if log is None:
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        output = result.stdout + result.stderr
    else:
        with log.open("w") as handle:
            result = subprocess.run(
                command, env=env, stdout=handle, stderr=subprocess.STDOUT, text=True, check=False
            )
        output = log.read_text()
    for line in reversed(output.splitlines()):
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER) :])
    tail = "\n".join(output.splitlines()[-60:])
    sys.exit(f"worker {args[0]} failed ({result.returncode}); last lines of its output:\n{tail}")


def emit(payload: dict[str, Any]) -> None:
    """Print a worker's result for run_self."""
    print(RESULT_MARKER + json.dumps(payload), flush=True)


# ---------------------------------------------------------------------------------------------- compile


@dataclass(frozen=True)
class Shape:
    """A generated flow: its class name, label and source."""

    label: str
    flow_name: str
    steps: int
    source: str


def split_evenly(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` sizes that differ by at most one, larger ones first."""
    base, extra = divmod(total, parts)
    return [base + (1 if index < extra else 0) for index in range(parts)]


def nested_flow(steps: int) -> Shape:
    """A flow with three nested foreach levels, multi-step bodies at every level and linear steps.

    Order: start -> pre_* -> [l1_* -> [l2_* -> [l3_*] join3 -> after2_*] join2 -> after1_*] join1 -> post_*
    -> end. The last step of pre, l1 and l2 opens the next foreach level; the first step of each body reads
    ``self.input``.
    """
    sizes = dict(
        zip(NESTED_SEGMENTS, split_evenly(steps - NESTED_FIXED_STEPS, len(NESTED_SEGMENTS)), strict=True)
    )
    names = {segment: [f"{segment}_{i}" for i in range(1, sizes[segment] + 1)] for segment in NESTED_SEGMENTS}
    order = [
        "start",
        *names["pre"],
        *names["l1"],
        *names["l2"],
        *names["l3"],
        "join3",
        *names["after2"],
        "join2",
        *names["after1"],
        "join1",
        *names["post"],
        "end",
    ]
    opens = {names["pre"][-1]: "l1", names["l1"][-1]: "l2", names["l2"][-1]: "l3"}
    firsts = {names[level][0] for level in ("l1", "l2", "l3")}
    lines: list[str] = []
    for index, name in enumerate(order):
        body: list[str] = []
        if name in firsts:
            body.append(f"self.{name.split('_')[0]}_item = self.input")
        if name in opens:
            body += ["self.items = [0, 1]", f"self.next(self.{order[index + 1]}, foreach='items')"]
        elif name == "end":
            body.append("pass")
        else:
            body.append(f"self.next(self.{order[index + 1]})")
        lines += step_source(name, body, join=name.startswith("join"))
    flow_name = f"Nested{steps}Flow"
    doc = f"{NESTED_LEVELS} nested foreach levels, {steps} steps."
    return Shape(
        f"nested foreach ({NESTED_LEVELS} levels)",
        flow_name,
        len(order),
        flow_file_source(flow_name, doc, lines),
    )


def linear_flow(steps: int) -> Shape:
    """A flat flow: start -> s1 -> ... -> end."""
    order = ["start", *(f"s{i}" for i in range(1, steps - 1)), "end"]
    lines: list[str] = []
    for index, name in enumerate(order):
        body = [f"self.next(self.{order[index + 1]})"] if index + 1 < len(order) else ["pass"]
        lines += step_source(name, body)
    flow_name = f"Linear{steps}Flow"
    return Shape(
        "linear", flow_name, len(order), flow_file_source(flow_name, f"{steps} linear steps.", lines)
    )


def parse_worker(dag_file: str) -> None:
    """Import DagBag (timed), load one DAG file (timed) and describe it, in this fresh interpreter."""
    began = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag

    import_ms = (time.perf_counter() - began) * 1000
    began = time.perf_counter()
    bag = DagBag(dag_folder=dag_file)
    parse_ms = (time.perf_counter() - began) * 1000

    from airflow.sdk.definitions.mappedoperator import MappedOperator

    dags = list(bag.dags.values())
    tasks = dags[0].tasks if len(dags) == 1 else []
    emit(
        {
            "import_ms": import_ms,
            "parse_ms": parse_ms,
            "dags": len(dags),
            "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
            "tasks": len(tasks),
            "mapped": sum(isinstance(task, MappedOperator) for task in tasks),
        }
    )


def compile_benchmark(args: argparse.Namespace) -> None:
    """Compile the nested and the linear flow, measure, print the comparison table."""
    began = time.perf_counter()
    shapes = [nested_flow(args.steps), linear_flow(args.steps)]
    measured: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="shapes-compile-") as tmp:
        root = Path(tmp)
        flows, dags = root / "flows", root / "dags"
        flows.mkdir()
        dags.mkdir()
        env = bench_environment(root, dags)
        for shape in shapes:
            flow_file = flows / f"{shape.flow_name.lower()}.py"
            dag_file = dags / f"{shape.flow_name.lower()}_dag.py"
            flow_file.write_text(shape.source)
            compile_s = [compile_flow(flow_file, dag_file, env) for _ in range(args.repeats)]
            text = dag_file.read_text()
            check = run_self(["_parse", str(dag_file)], env)  # warm-up: airflow.cfg, bytecode caches
            if check["dags"] != 1 or check["import_errors"]:
                sys.exit(f"{dag_file.name} did not load as one DAG: {json.dumps(check, indent=2)}")
            loads = [run_self(["_parse", str(dag_file)], env) for _ in range(args.repeats)]
            measured.append(
                {
                    "compile_s": statistics.median(compile_s),
                    "bytes": len(text.encode()),
                    "lines": len(text.splitlines()),
                    "steps": shape.steps,
                    "tasks": check["tasks"],
                    "mapped": check["mapped"],
                    "parse_ms": statistics.median(load["parse_ms"] for load in loads),
                    "import_ms": statistics.median(load["import_ms"] for load in loads),
                }
            )

    nested, linear = measured
    metrics = [
        (f"compile wall time, median of {args.repeats} (s)", "compile_s", "{:.2f}"),
        ("Metaflow steps", "steps", "{:d}"),
        ("Airflow tasks", "tasks", "{:d}"),
        ("of which mapped", "mapped", "{:d}"),
        ("generated DAG size (bytes)", "bytes", "{:d}"),
        ("generated DAG size (lines)", "lines", "{:d}"),
        (f"DagBag parse time, median of {args.repeats} (ms)", "parse_ms", "{:.1f}"),
    ]
    rows = []
    for label, key, template in metrics:
        ratio = f"{nested[key] / linear[key]:.2f}x" if linear[key] else "-"
        rows.append([label, template.format(nested[key]), template.format(linear[key]), ratio])
    print_table(["metric", shapes[0].label, shapes[1].label, "ratio"], rows)
    print()
    print(
        "compile = `python flow.py --quiet airflow create DAG_FILE` in a new process (interpreter start and "
        "Metaflow import included)."
    )
    print(
        "parse = `DagBag(dag_folder=DAG_FILE)` in a fresh interpreter after importing DagBag "
        f"(that import, left out: median {nested['import_ms']:.0f} / {linear['import_ms']:.0f} ms)."
    )
    print("Nested foreach tasks include one splits task per inner foreach level.")
    print(environment_line(began))


# ---------------------------------------------------------------------------------------------- e2e


def wide_flow_source(width: int) -> str:
    """start -> body (foreach over ``width`` items, one trivial step) -> join -> end."""
    steps = [
        *step_source(
            "start", [f"self.items = list(range({width}))", "self.next(self.body, foreach='items')"]
        ),
        *step_source("body", ["self.value = self.input", "self.next(self.join)"]),
        *step_source("join", ["self.total = sum(i.value for i in inputs)", "self.next(self.end)"], join=True),
        *step_source("end", ["pass"]),
    ]
    return flow_file_source("WideForeachFlow", f"A {width}-wide foreach.", steps)


def e2e_environment(root: Path, width: int) -> Any:
    """The harness's configuration plus the settings this benchmark needs; returns the TestEnvironment."""
    from airflow_provider_metaflow.testing import configure

    test_env = configure(root)
    os.environ["METAFLOW_USER"] = "bench"
    os.environ["METAFLOW_HOME"] = str(root / "metaflow_home")
    os.environ["AIRFLOW__CORE__MAX_MAP_LENGTH"] = str(max(1024, width))
    return test_env


def summarise_run(run: Any, width: int) -> dict[str, Any]:
    """Whether a Metaflow run succeeded with the expected body tasks and join result."""
    total = run["join"].task["total"].data
    return {
        "successful": bool(run.successful),
        "body_tasks": sum(1 for _ in run["body"]),
        "total_ok": total == width * (width - 1) // 2,
    }


def e2e_airflow_worker(root: str, dag_file: str, width: int) -> None:
    """Time ``dag.test()`` of the compiled DAG in this process (configured before Airflow is imported)."""
    e2e_environment(Path(root), width)
    from airflow_provider_metaflow.testing import run_dag

    began = time.perf_counter()
    with tree_rss_sampler() as tree:
        result = run_dag(dag_file)
    wall_s = time.perf_counter() - began
    summary = summarise_run(result.run(), width) if result.state == "success" else {"successful": False}
    emit(
        {
            "wall_s": wall_s,
            "state": result.state,
            "tree_peak_mib": tree["peak_mib"],
            "descendant_peak_mib": tree["descendant_peak_mib"],
            "self_maxrss_mib": max_rss_mib(resource.RUSAGE_SELF),
            "children_maxrss_mib": max_rss_mib(resource.RUSAGE_CHILDREN),
            **summary,
        }
    )


def e2e_local_worker(root: str, flow_file: str, width: int, max_workers: int) -> None:
    """Time ``python flow.py run`` with Metaflow's local runtime, started from this process."""
    e2e_environment(Path(root), width)
    from airflow_provider_metaflow.testing import run_flow_locally

    extra = ["--max-num-splits", str(width + 1), "--max-workers", str(max_workers)]
    began = time.perf_counter()
    with tree_rss_sampler() as tree:
        run = run_flow_locally(flow_file, extra=extra)
    wall_s = time.perf_counter() - began
    emit(
        {
            "wall_s": wall_s,
            "state": "success" if run.successful else "failed",
            "tree_peak_mib": tree["peak_mib"],
            "descendant_peak_mib": tree["descendant_peak_mib"],
            "self_maxrss_mib": max_rss_mib(resource.RUSAGE_SELF),
            "children_maxrss_mib": max_rss_mib(resource.RUSAGE_CHILDREN),
            **summarise_run(run, width),
        }
    )


def e2e_benchmark(args: argparse.Namespace) -> None:
    """Compile the wide flow, run it both ways in fresh worker processes, print the comparison table."""
    began = time.perf_counter()
    width = args.width
    with tempfile.TemporaryDirectory(prefix="shapes-e2e-") as tmp:
        root = Path(tmp)
        test_env = e2e_environment(root, width)  # sets os.environ, inherited by every process below
        from airflow_provider_metaflow.testing import create_dag

        flow_file = test_env.flows_folder / "wide_foreach_flow.py"
        dag_file = test_env.dags_folder / "wide_foreach_dag.py"
        flow_file.write_text(wide_flow_source(width))
        create_dag(flow_file, dag_file)
        test_env.migrate()

        logs = root / "logs"
        logs.mkdir()
        airflow = run_self(["_e2e-airflow", str(root), str(dag_file), str(width)], log=logs / "airflow.log")
        local = run_self(
            ["_e2e-local", str(root), str(flow_file), str(width), str(args.max_workers)],
            log=logs / "local.log",
        )

    def cell(result: dict[str, Any], key: str, template: str) -> str:
        return template.format(result[key]) if key in result else "-"

    rows = [
        [
            "wall time (s)",
            cell(airflow, "wall_s", "{:.1f}"),
            cell(local, "wall_s", "{:.1f}"),
            f"{airflow['wall_s'] / local['wall_s']:.2f}x",
        ],
        [
            "wall time / W (s)",
            f"{airflow['wall_s'] / width:.3f}",
            f"{local['wall_s'] / width:.3f}",
            "",
        ],
        ["outcome", airflow["state"], local["state"], ""],
        [
            "body tasks in the Metaflow run",
            cell(airflow, "body_tasks", "{}"),
            cell(local, "body_tasks", "{}"),
            "",
        ],
        [
            "join result correct",
            str(airflow.get("total_ok", "-")).lower(),
            str(local.get("total_ok", "-")).lower(),
            "",
        ],
        [
            "peak RSS, process tree sum (MiB)",
            cell(airflow, "tree_peak_mib", "{:.0f}"),
            cell(local, "tree_peak_mib", "{:.0f}"),
            f"{airflow['tree_peak_mib'] / local['tree_peak_mib']:.2f}x",
        ],
        [
            "peak RSS, largest single descendant (MiB)",
            cell(airflow, "descendant_peak_mib", "{:.0f}"),
            cell(local, "descendant_peak_mib", "{:.0f}"),
            "",
        ],
        [
            "ru_maxrss, timing process itself (MiB)",
            cell(airflow, "self_maxrss_mib", "{:.0f}"),
            cell(local, "self_maxrss_mib", "{:.0f}"),
            "",
        ],
        [
            "ru_maxrss, children (MiB)",
            cell(airflow, "children_maxrss_mib", "{:.0f}"),
            cell(local, "children_maxrss_mib", "{:.0f}"),
            "",
        ],
    ]
    print_table(
        [
            f"W = {width}",
            "Airflow dag.test()",
            f"python flow.py run (--max-workers {args.max_workers})",
            "ratio",
        ],
        rows,
    )
    print()
    print(
        "dag.test() runs mapped tasks one at a time, in one process: the ratio compares sequential Airflow "
        "execution with Metaflow's parallel local runtime, not Airflow's overhead on a real executor."
    )
    print(
        "wall time: the run only (compiling and `airflow db migrate` excluded), measured by a worker process "
        "that does nothing else; for dag.test() it includes parsing the DAG file and reading back the run id."
    )
    print(
        "peak RSS rows: sampled every "
        f"{RSS_SAMPLE_SECONDS} s with psutil over the worker and all its descendants (short-lived peaks can "
        "be missed); the tree sum adds up every process alive at one sample; forks not yet exec()ed are "
        "left out."
    )
    print(
        "ru_maxrss, timing process itself = getrusage(RUSAGE_SELF) of the worker: for dag.test() the Airflow "
        "process (DAG objects, scheduling loop, task runner); for `run` it only starts the Metaflow runtime."
    )
    print(
        "ru_maxrss, children = getrusage(RUSAGE_CHILDREN): the largest single finished descendant, not a "
        "sum. Linux counts a child's memory from before its exec(), so a step started by the Airflow process "
        "shows at least that process's size."
    )
    print(environment_line(began))


# ---------------------------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{compile,e2e}")

    compile_parser = commands.add_parser(
        "compile", help="compile a 3-level nested foreach flow vs a linear one"
    )
    compile_parser.add_argument("--steps", type=int, default=50, help="steps per flow (default: 50)")
    compile_parser.add_argument(
        "--repeats", type=int, default=5, help="compiles and parses per flow; medians shown (default: 5)"
    )

    e2e_parser = commands.add_parser(
        "e2e", help="a W-wide foreach through dag.test() vs `python flow.py run`"
    )
    e2e_parser.add_argument("--width", type=int, default=200, help="foreach width W (default: 200)")
    e2e_parser.add_argument(
        "--max-workers", type=int, default=16, help="`run --max-workers` for the Metaflow run (default: 16)"
    )

    parse_parser = commands.add_parser("_parse")
    parse_parser.add_argument("dag_file")
    airflow_parser = commands.add_parser("_e2e-airflow")
    airflow_parser.add_argument("root")
    airflow_parser.add_argument("dag_file")
    airflow_parser.add_argument("width", type=int)
    local_parser = commands.add_parser("_e2e-local")
    local_parser.add_argument("root")
    local_parser.add_argument("flow_file")
    local_parser.add_argument("width", type=int)
    local_parser.add_argument("max_workers", type=int)

    args = parser.parse_args(argv)
    if args.command == "compile":
        if args.repeats < 1:
            compile_parser.error("--repeats must be at least 1")
        if args.steps < MIN_NESTED_STEPS:
            compile_parser.error(f"--steps must be at least {MIN_NESTED_STEPS}")
    if args.command == "e2e" and (args.width < 1 or args.max_workers < 1):
        e2e_parser.error("--width and --max-workers must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    """Dispatch to a sub-benchmark or to a hidden worker."""
    args = parse_args(argv)
    if args.command == "compile":
        compile_benchmark(args)
    elif args.command == "e2e":
        e2e_benchmark(args)
    elif args.command == "_parse":
        parse_worker(args.dag_file)
    elif args.command == "_e2e-airflow":
        e2e_airflow_worker(args.root, args.dag_file, args.width)
    elif args.command == "_e2e-local":
        e2e_local_worker(args.root, args.flow_file, args.width, args.max_workers)


if __name__ == "__main__":
    main()
