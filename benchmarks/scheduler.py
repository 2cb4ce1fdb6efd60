"""Flows under a real Airflow scheduler: this provider's cost per task, against Airflow's own floor
and against Metaflow's local runtime.

Starts Airflow's api-server, scheduler, dag-processor and triggerer on loopback (LocalExecutor,
SQLite, `--parallelism` task slots) with the harness in `airflow_provider_metaflow.testing`, and runs
two flows of trivial steps: a linear flow of `--steps` steps and a `--width`-wide foreach. Each is
timed as a generated DAG, as a DAG of no-op PythonOperators of the same shape under the same
scheduler (Airflow's floor), and as `python flow.py run --max-workers PARALLELISM`. The step
process's own duration comes from the operator's log line ("... ended with exit code 0 after X s"),
fetched over REST, so the overhead beyond the step process excludes Metaflow's own work.
Then it deploys a 3-step flow with `airflow create` (no FILE) into a local Airflow of its own
(`airflow-metaflow-local`'s setup, in a temporary folder) and times how long after `create`
returns the `start` task runs, and a triggered run from trigger to finish, against `python
flow.py run`. Timings are printed, never asserted.

    python benchmarks/scheduler.py [--repeats 3] [--steps 10] [--width 50] [--parallelism 4] [--no-deploy]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import bench_environment, compile_flow, environment_line, linear_flow_source, print_table

from airflow_provider_metaflow.local_airflow import USERNAME, LocalAirflow
from airflow_provider_metaflow.local_airflow import start as start_local_airflow
from airflow_provider_metaflow.local_airflow import stop as stop_local_airflow
from airflow_provider_metaflow.testing.rest import AirflowRestClient, fetch_token
from airflow_provider_metaflow.testing.services import AirflowServices, ServicesConfig

STEP_TIME = re.compile(r"ended with exit code 0 after ([0-9.]+) s")
PER_TASK_GOAL_S = 0.3
RATIO_GOAL = 1.4
# Airflow settings that move these figures (set through AIRFLOW__SECTION__KEY in extra_env).
SETTINGS_THAT_MATTER = (
    "[core] parallelism and the executor's slots: how many tasks run at once",
    "[scheduler] scheduler_idle_sleep_time, [scheduler] max_tis_per_query: how soon a ready task is queued",
    "[scheduler] task_queued_timeout and the executor's heartbeat: how soon a queued task starts",
    "[core] max_active_tasks_per_dag / the DAG's max_active_tasks (--max-workers at create)",
    "[core] execute_tasks_new_python_interpreter: a new interpreter per task instead of a fork",
    "[workers] min_heartbeat_interval (5 s): how long a task's supervisor can wait before it notices that "
    "its task process ended, which holds the worker slot "
    "(try --airflow-config workers.min_heartbeat_interval=1)",
)


def busy_cpu_seconds() -> float:
    """CPU time the whole machine spent busy since boot (Linux /proc/stat): all processes, all cores.

    The DAG runs are spread over Airflow's services, their task processes and the step processes, so
    the machine-wide figure is the one that adds them all up; the benchmark wants a quiet machine.
    """
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def airflow_settings(assignments: list[str]) -> dict[str, str]:
    """`section.key=value` options as Airflow's AIRFLOW__SECTION__KEY environment variables."""
    settings = {}
    for assignment in assignments:
        name, separator, value = assignment.partition("=")
        section, dot, key = name.partition(".")
        if not (separator and dot and section and key):
            sys.exit(f"--airflow-config {assignment!r}: expected SECTION.KEY=VALUE")
        settings[f"AIRFLOW__{section.upper()}__{key.upper()}"] = value
    return settings


@dataclass(frozen=True)
class Shape:
    name: str
    tasks: int  # Airflow tasks per DAG run (mapped instances counted)

    @property
    def flow_name(self) -> str:
        return f"Bench{self.name.capitalize()}Flow"


def foreach_flow(width: int) -> str:
    return f"""from metaflow import FlowSpec, step


class BenchForeachFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range({width}))
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.square = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.square for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BenchForeachFlow()
"""


def baseline_dags(steps: int, width: int) -> str:
    """The same shapes as PythonOperators. `noop_*` tasks do nothing: Airflow's own cost per task.
    `sleep_*` tasks sleep for the DAG run's `seconds` (the benchmark passes the mean step process
    time): Airflow's cost for tasks as long as the flow's, with none of this provider's work."""
    chain = " >> ".join(f"PythonOperator(task_id='s{i}', python_callable=work)" for i in range(steps))
    return f"""import time

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG


def noop(*args, **context):
    return None


def pause(*args, **context):
    time.sleep(float(context["dag_run"].conf.get("seconds", 0)))


def splits():
    return [[i] for i in range({width})]


for kind, work in (("noop", noop), ("sleep", pause)):
    with DAG(f"{{kind}}_linear", schedule=None, max_active_tasks=100):
        {chain}

    with DAG(f"{{kind}}_foreach", schedule=None, max_active_tasks=100):
        start = PythonOperator(task_id="start", python_callable=splits)
        body = PythonOperator.partial(task_id="body", python_callable=work).expand(op_args=start.output)
        start >> body >> PythonOperator(task_id="join", python_callable=work) >> PythonOperator(
            task_id="end", python_callable=work
        )
"""


def time_dag_runs(
    services: AirflowServices, dag_id: str, repeats: int, conf: dict[str, float] | None = None
) -> tuple[list[float], list[float], list[float], list[float]]:
    """(DAG run durations, machine CPU seconds, step process durations, overheads beyond the step)."""
    rest = services.rest
    durations, cpu, step_times, beyond_step = [], [], [], []
    for _ in range(repeats):
        cpu_before = busy_cpu_seconds()
        run_id = rest.trigger_dag_run(dag_id, conf=conf)
        run = rest.wait_for_dag_run(dag_id, run_id, timeout=1800)
        cpu.append(busy_cpu_seconds() - cpu_before)
        if run.state != "success" or run.start_date is None or run.end_date is None:
            sys.exit(f"{dag_id} run {run_id} ended {run.state}")
        durations.append((run.end_date - run.start_date).total_seconds())
        if not dag_id.startswith("Bench"):  # a baseline DAG: no step processes
            continue
        for ti in rest.task_instances(dag_id, run_id):
            if ti.start_date is None or ti.end_date is None or ti.task_id.endswith("__splits"):
                continue
            step = STEP_TIME.search(rest.task_log(dag_id, run_id, ti.task_id, ti.try_number, ti.map_index))
            if step:
                step_times.append(float(step.group(1)))
                beyond_step.append((ti.end_date - ti.start_date).total_seconds() - step_times[-1])
    return durations, cpu, step_times, beyond_step


def time_local_runs(
    flow_file: Path, env: dict[str, str], parallelism: int, repeats: int
) -> tuple[list[float], list[float]]:
    """(wall times, machine CPU seconds) of `repeats` runs of `python flow.py run`."""
    command = [sys.executable, str(flow_file), "--quiet", "run", f"--max-workers={parallelism}"]
    times, cpu = [], []
    for _ in range(repeats):
        cpu_before, began = busy_cpu_seconds(), time.perf_counter()
        subprocess.run(command, cwd=flow_file.parent, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - began)
        cpu.append(busy_cpu_seconds() - cpu_before)
    return times, cpu


def deploy_latencies(parallelism: int, repeats: int) -> list[str]:
    """One table row: a 3-step flow deployed with `create` (no FILE) into a new local Airflow, then
    triggered at once, `repeats` times, each under a new DAG id (a new DAG's registration)."""
    with tempfile.TemporaryDirectory(prefix="deploy-bench-") as tmp:
        root = Path(tmp)
        local = LocalAirflow.at(root / "local")
        project = root / "project"
        project.mkdir()
        flow_file = project / "bench_deploy_flow.py"
        flow_file.write_text(linear_flow_source("BenchDeployFlow", 3))
        env = {
            **bench_environment(root, local.dags_folder),
            **local.metaflow_env(),
            "METAFLOW_AIRFLOW_LOCAL_HOME": str(local.home),
        }
        env.pop("METAFLOW_AIRFLOW_API_URL", None)
        state = start_local_airflow(local, parallelism)
        creates, to_first_task, to_finish = [], [], []
        try:
            url = state["url"]
            with AirflowRestClient(url, token=fetch_token(url, USERNAME, local.password())) as rest:
                for index in range(repeats):
                    dag_id = f"bench_deploy_{index}"
                    began = time.time()
                    command = [
                        sys.executable,
                        str(flow_file),
                        "--quiet",
                        "airflow",
                        "--name",
                        dag_id,
                        "create",
                    ]
                    subprocess.run(command, cwd=project, env=env, check=True, capture_output=True)
                    created = time.time()
                    creates.append(created - began)
                    run_id = rest.trigger_dag_run(dag_id)
                    run = rest.wait_for_dag_run(dag_id, run_id, timeout=600)
                    if run.state != "success" or run.end_date is None:
                        sys.exit(f"{dag_id} run {run_id} ended {run.state}")
                    (start,) = rest.task_instances(dag_id, run_id, task_id="start")
                    assert start.start_date is not None
                    to_first_task.append(start.start_date.timestamp() - created)
                    to_finish.append(run.end_date.timestamp() - created)
        finally:
            stop_local_airflow(local)
        local_runs, _ = time_local_runs(flow_file, env, parallelism, repeats)
    create_s, first_s, finish_s, run_s = (
        statistics.median(t) for t in (creates, to_first_task, to_finish, local_runs)
    )
    return [
        "linear, 3 steps",
        f"{create_s:.1f}",
        f"{first_s:.1f}",
        f"{finish_s:.1f}",
        f"{run_s:.1f}",
        f"{finish_s / run_s:.2f}x",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--width", type=int, default=50)
    parser.add_argument("--parallelism", type=int, default=4)
    parser.add_argument("--no-deploy", action="store_true", help="leave out the deploy-latency table")
    parser.add_argument(
        "--airflow-config",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="an Airflow setting for every service, e.g. workers.min_heartbeat_interval=1 (repeatable)",
    )
    args = parser.parse_args()
    began = time.perf_counter()
    shapes = [Shape("linear", args.steps), Shape("foreach", args.width + 3)]
    with tempfile.TemporaryDirectory(prefix="scheduler-bench-") as tmp:
        root = Path(tmp)
        dags, flows = root / "dags", root / "dags" / "flows"
        flows.mkdir(parents=True)
        env = bench_environment(root, dags)
        sources = {
            "linear": linear_flow_source("BenchLinearFlow", args.steps),
            "foreach": foreach_flow(args.width),
        }
        for shape in shapes:
            flow_file = flows / f"bench_{shape.name}_flow.py"
            flow_file.write_text(sources[shape.name])
            compile_flow(flow_file, dags / f"bench_{shape.name}_dag.py", env)
        (dags / "baseline_dags.py").write_text(baseline_dags(args.steps, args.width))
        metaflow_env = {name: value for name, value in env.items() if name.startswith("METAFLOW_")}
        config = ServicesConfig(
            airflow_home=root / "airflow-services",
            dags_folder=dags,
            parallelism=args.parallelism,
            extra_env={**metaflow_env, **airflow_settings(args.airflow_config)},
        )
        rows, cpu_rows = [], []
        with AirflowServices(config) as services:
            baselines = [f"{kind}_{shape.name}" for kind in ("noop", "sleep") for shape in shapes]
            services.register_dags(*(shape.flow_name for shape in shapes), *baselines)
            for shape in shapes:
                flow_times, flow_cpu, step_times, beyond_step = time_dag_runs(
                    services, shape.flow_name, args.repeats
                )
                noop_times, noop_cpu, _, _ = time_dag_runs(services, f"noop_{shape.name}", args.repeats)
                step_s = statistics.mean(step_times)
                sleep_times, _, _, _ = time_dag_runs(
                    services, f"sleep_{shape.name}", args.repeats, conf={"seconds": round(step_s, 3)}
                )
                local, local_cpu = time_local_runs(
                    flows / f"bench_{shape.name}_flow.py", env, args.parallelism, args.repeats
                )
                flow_s, noop_s, sleep_s, local_s = (
                    statistics.median(t) for t in (flow_times, noop_times, sleep_times, local)
                )
                rows.append(
                    [
                        shape.name,
                        str(shape.tasks),
                        f"{flow_s:.1f}",
                        f"{noop_s:.1f}",
                        f"{flow_s / noop_s:.2f}x",
                        f"{sleep_s:.1f}",
                        f"{flow_s / sleep_s:.2f}x",
                        f"{local_s:.1f}",
                        f"{flow_s / local_s:.2f}x",
                        f"{(flow_s - noop_s) / shape.tasks:.2f}",
                        f"{step_s:.2f}",
                        f"{statistics.mean(beyond_step):.2f}" if beyond_step else "-",
                    ]
                )
                flow_c, noop_c, local_c = (
                    statistics.median(c) / shape.tasks for c in (flow_cpu, noop_cpu, local_cpu)
                )
                cpu_rows.append(
                    [
                        shape.name,
                        f"{flow_c:.2f}",
                        f"{noop_c:.2f}",
                        f"{local_c:.2f}",
                        f"{flow_c - noop_c:.2f}",
                        f"{(flow_c - noop_c) / local_c:.2f}x",
                    ]
                )
    print_table(
        [
            "flow",
            "tasks",
            "flow DAG s",
            "no-op DAG s",
            "vs no-op",
            "sleep DAG s",
            "vs sleep",
            "flow.py run s",
            "vs run",
            "over floor s/task",
            "step process s",
            "beyond step s/task",
        ],
        rows,
    )
    print()
    print(
        f"Medians of {args.repeats} DAG runs each (DagRun start to end, from the REST API), LocalExecutor "
        f"with parallelism {args.parallelism}; `python flow.py run --max-workers {args.parallelism}` timed "
        "as a whole command. The sleep DAG's tasks sleep for the mean step process time: Airflow's own cost "
        "for tasks that long. 'over floor' is (flow DAG - no-op DAG) / tasks; 'step process' is the mean "
        "wall time of a step's Metaflow process (Metaflow's own work, slowed by whatever else runs on the "
        "machine); 'beyond step' is the mean of each Metaflow task instance's duration minus its step "
        "process's own duration."
    )
    print()
    print_table(
        [
            "flow",
            "flow DAG cpu s/task",
            "no-op DAG cpu s/task",
            "flow.py run cpu s/task",
            "flow - no-op cpu s/task",
            "vs flow.py run",
        ],
        cpu_rows,
    )
    print()
    print(
        "CPU: busy CPU seconds of the whole machine during each run (all services, task and step "
        "processes), median, divided by the tasks of the DAG run. 'flow - no-op' is what running Metaflow "
        "costs on top of Airflow's own per-task work; 'vs flow.py run' compares it with what Metaflow's "
        "local runtime spends per task. When the machine has fewer cores than task slots, wall time follows "
        "CPU time."
    )
    print(f"Goals: beyond step <= {PER_TASK_GOAL_S} s per task; flow DAG <= {RATIO_GOAL}x the no-op DAG.")
    print("Airflow settings that change these figures:")
    for line in SETTINGS_THAT_MATTER:
        print(f"  - {line}")
    if args.airflow_config:
        print("Airflow settings given: " + ", ".join(args.airflow_config))
    if not args.no_deploy:
        print()
        print_table(
            [
                "flow",
                "create s",
                "create -> start task s",
                "create -> run finished s",
                "flow.py run s",
                "vs run",
            ],
            [deploy_latencies(args.parallelism, args.repeats)],
        )
        print()
        print(
            f"Medians of {args.repeats} deploys, each a new DAG id, into a local Airflow "
            "(`airflow-metaflow-local`'s setup, parallelism as above). 'create s': `python flow.py "
            "airflow create` with no FILE, start to return, registration included (`airflow dags "
            "reserialize`). The DAG is triggered through the REST API as soon as create returns; "
            "'create -> start task' is until the start task instance began, 'create -> run finished' "
            "until the DAG run ended. `python flow.py run` is timed as a whole command."
        )
    print(environment_line(began))


if __name__ == "__main__":
    main()
