"""What a step costs as a Kubernetes pod, against the same step as a local process, and what
`airflow create` costs to upload the code package.

Runs a linear flow of trivial steps on an S3 datastore (moto on loopback) twice through Airflow's
`dag.test()`: every step as a local process, and every step as a pod (`--with kubernetes`)
through the real KubernetesPodOperator, against the loopback Kubernetes API of the test harness,
which runs each pod's command as a local process. So the pod figure is this provider's pod path
(the operator, the probes, the code package download and unpacking) plus KubernetesPodOperator's
own polling, without a real cluster's scheduling and image pulls. Timings are printed, never
asserted.

    python benchmarks/pods.py [--steps 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import environment_line, linear_flow_source, print_table


def create(flow: Path, dag: Path, *top_level: str) -> float:
    began = time.perf_counter()
    subprocess.run(  # noqa: S603 - argv list
        [sys.executable, str(flow), "--quiet", *top_level, "airflow", "create", str(dag)],
        cwd=flow.parent,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - began


def worker(dag_file: str, repeats: int) -> None:
    """In a process whose environment already points at the services: dag.test() the DAG."""
    from airflow_provider_metaflow.testing import run_dag

    durations = []
    for _ in range(repeats):
        began = time.perf_counter()
        result = run_dag(dag_file)
        durations.append(time.perf_counter() - began)
        if result.state != "success":
            sys.exit(f"{dag_file}: DAG run {result.airflow_run_id} ended {result.state}")
    print("POD_BENCH " + json.dumps(durations), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]))
        return
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pod-bench-") as tmp:
        root = Path(tmp)
        from airflow_provider_metaflow.testing import configure

        env = configure(root)  # sets AIRFLOW_HOME and friends in os.environ, for the children
        from airflow_provider_metaflow.testing.kubernetes_api import KubernetesApiServer
        from airflow_provider_metaflow.testing.s3 import S3Server

        with S3Server() as s3:
            os.environ.update(s3.env)
            pod_env = {
                "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
                "METAFLOW_DATASTORE_SYSROOT_LOCAL": "",
            }
            with KubernetesApiServer(extra_env=pod_env) as kube:
                kubeconfig = kube.write_kubeconfig(root / "kubeconfig")
                os.environ["AIRFLOW_CONN_KUBERNETES_DEFAULT"] = json.dumps(
                    {
                        "conn_type": "kubernetes",
                        "extra": {"in_cluster": False, "kube_config_path": str(kubeconfig)},
                    }
                )
                flow = env.flows_folder / "pod_bench_flow.py"
                flow.write_text(linear_flow_source("PodBenchFlow", args.steps))
                local_dag, pod_dag = env.dags_folder / "local_dag.py", env.dags_folder / "pod_dag.py"
                create(flow, local_dag)
                first = create(flow, pod_dag, "--with", "kubernetes")
                again = [create(flow, pod_dag, "--with", "kubernetes") for _ in range(args.repeats)]
                env.migrate()
                times = {}
                for name, dag in (("local process", local_dag), ("pod", pod_dag)):
                    other = pod_dag if dag == local_dag else local_dag
                    hidden = other.with_suffix(".off")
                    other.rename(hidden)  # dag.test() parses the whole dags folder
                    completed = subprocess.run(  # noqa: S603 - argv list
                        [sys.executable, __file__, "--worker", str(dag), str(args.repeats)],
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    hidden.rename(other)
                    line = [x for x in completed.stdout.splitlines() if x.startswith("POD_BENCH ")]
                    if not line:
                        sys.exit(
                            f"{name} runs failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
                        )
                    times[name] = statistics.median(json.loads(line[0].split(" ", 1)[1]))
    local_s, pod_s = times["local process"], times["pod"]
    print_table(
        ["measure", "value"],
        [
            ["steps per DAG run", str(args.steps)],
            ["DAG run, every step a local process (s)", f"{local_s:.1f}"],
            ["DAG run, every step a pod (s)", f"{pod_s:.1f}"],
            ["per step: local process (s)", f"{local_s / args.steps:.2f}"],
            ["per step: pod (s)", f"{pod_s / args.steps:.2f}"],
            ["pod overhead per step (s)", f"{(pod_s - local_s) / args.steps:.2f}"],
            ["`airflow create` with upload, first (s)", f"{first:.2f}"],
            ["`airflow create`, no code change (s)", f"{statistics.median(again):.2f}"],
        ],
    )
    print()
    print(
        f"Medians of {args.repeats} DAG runs with dag.test() (tasks one at a time), S3 on moto, pods as "
        "local processes behind the loopback Kubernetes API (no scheduling, no image pull)."
    )
    print(environment_line(began))


if __name__ == "__main__":
    main()
