"""Helpers the benchmark scripts share: a throwaway environment, compiling, and printing."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path


def bench_environment(root: Path, dags: Path) -> dict[str, str]:
    """This process's environment, pointed at a Metaflow home, datastore and Airflow home under root."""
    env = dict(os.environ)
    env.update(
        METAFLOW_USER="bench",
        METAFLOW_HOME=str(root / "metaflow_home"),
        METAFLOW_DEFAULT_DATASTORE="local",
        METAFLOW_DEFAULT_METADATA="local",
        METAFLOW_DATASTORE_SYSROOT_LOCAL=str(root / "metaflow"),
        AIRFLOW_HOME=str(root / "airflow"),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
    )
    return env


def compile_flow(flow_file: Path, dag_file: Path, env: dict[str, str], *options: str) -> float:
    """Wall time of ``python flow.py --quiet airflow create DAG_FILE [OPTIONS]``; exits with its output if
    it fails."""
    command = [sys.executable, str(flow_file), "--quiet", "airflow", "create", str(dag_file), *options]
    began = time.perf_counter()
    result = subprocess.run(
        command, cwd=flow_file.parent, env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - began
    if result.returncode != 0 or not dag_file.is_file():
        sys.exit(f"compiling {flow_file.name} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return elapsed


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """Print a markdown table with aligned columns: the first left-aligned, the rest right-aligned."""
    widths = [max(len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join(("-" * (w + 1) + (":" if i else "-")) for i, w in enumerate(widths)) + "|")
    for row in rows:
        cells = [row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))]
        print("| " + " | ".join(cells) + " |")


def environment_line(began: float) -> str:
    """Versions, CPU count and the total runtime of the script."""
    return (
        f"Python {platform.python_version()}, Airflow {metadata.version('apache-airflow')}, "
        f"Metaflow {metadata.version('metaflow')}, {os.cpu_count()} CPUs; "
        f"total {time.perf_counter() - began:.0f} s."
    )


def linear_flow_source(class_name: str, steps: int) -> str:
    """A flow of `steps` trivial steps in a line: start -> s1 -> ... -> end."""
    names = ["start", *(f"s{i}" for i in range(1, steps - 1)), "end"]
    lines = ["from metaflow import FlowSpec, step", "", "", f"class {class_name}(FlowSpec):"]
    for index, name in enumerate(names):
        body = f"self.next(self.{names[index + 1]})" if index + 1 < len(names) else "pass"
        lines += [
            "    @step",
            f"    def {name}(self):",
            f"        self.value = {index}",
            f"        {body}",
            "",
        ]
    return "\n".join([*lines, 'if __name__ == "__main__":', f"    {class_name}()", ""])
