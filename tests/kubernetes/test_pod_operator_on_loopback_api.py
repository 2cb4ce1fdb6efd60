"""The real KubernetesPodOperator, sync and deferrable, runs pods on the loopback Kubernetes API:
each pod's command runs as a local process, its output reaches the Airflow task log, and the
operator's calls (create, poll, logs, events, cleanup) are the ones a real cluster would see."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from process_helpers import wait_dead

from airflow_provider_metaflow.testing.kubernetes_api import KubernetesApiServer

pytestmark = pytest.mark.e2e


DAG_TEMPLATE = """
import datetime
from airflow.sdk import DAG
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.secret import Secret

with DAG(dag_id={dag_id!r}, schedule=None) as dag:
    KubernetesPodOperator(
        task_id="pod",
        name="loopback-pod",
        namespace="default",
        image="python:3.11-slim",
        cmds=[{python!r}, "-c"],
        arguments=[{script!r}],
        in_cluster=False,
        config_file={kubeconfig!r},
        get_logs=True,
        startup_check_interval_seconds=1,
        poll_interval=0.5,
        {extra}
    )
"""

HELLO = "import os\nprint('first line from the pod')\nprint('greeting:', os.environ['GREETING'])"


def kpo_dag(dag_id: str, kubeconfig: Path, script: str, extra: str = "") -> str:
    return DAG_TEMPLATE.format(
        dag_id=dag_id, python=sys.executable, script=script, kubeconfig=str(kubeconfig), extra=extra
    )


def calls(server: KubernetesApiServer, method: str, suffix: str) -> list[dict[str, str]]:
    return [r.query for r in server.requests if r.method == method and r.path.endswith(suffix)]


def test_pod_operator_runs_command_and_streams_its_output_to_the_task_log(
    kube_api: KubernetesApiServer,
    kubeconfig: Path,
    run_dag_file: Callable[[str], Any],
    capfd: pytest.CaptureFixture[str],
) -> None:
    extra = "env_vars={'GREETING': 'hello from the pod'}, deferrable=False,"

    run = run_dag_file(kpo_dag("kpo_sync", kubeconfig, HELLO, extra))

    assert (run.state, run.task_states) == ("success", {"pod": "success"})
    assert "[base] first line from the pod" in run.task_log
    assert "[base] greeting: hello from the pod" in run.task_log
    (created,) = kube_api.created_pods
    container = created["spec"]["containers"][0]
    assert container["name"] == "base" and container["args"] == [HELLO]
    assert {"name": "GREETING", "value": "hello from the pod"} in container["env"]
    assert created["metadata"]["labels"]["dag_id"] == "kpo_sync"
    assert created["metadata"]["labels"]["try_number"] == "1"
    pod_name = created["metadata"]["name"]
    lookups = calls(kube_api, "GET", "/namespaces/default/pods")
    assert lookups and all("already_checked!=True" in q["labelSelector"] for q in lookups)
    assert calls(kube_api, "POST", "/namespaces/default/pods") == [{}]
    assert len(calls(kube_api, "GET", f"/pods/{pod_name}")) >= 2
    (log_read,) = calls(kube_api, "GET", f"/pods/{pod_name}/log")
    assert log_read == {"container": "base", "follow": "True", "timestamps": "True"}
    assert {"fieldSelector": f"involvedObject.name={pod_name}"} in calls(kube_api, "GET", "/events")
    assert calls(kube_api, "PATCH", pod_name) == []  # a succeeded pod is deleted, not marked
    assert len(calls(kube_api, "DELETE", pod_name)) == 1
    assert kube_api.pods == {}
    assert wait_dead(kube_api.pids["default", pod_name])


def test_deferrable_pod_operator_waits_in_the_trigger_with_the_async_client(
    kube_api: KubernetesApiServer,
    kubeconfig: Path,
    run_dag_file: Callable[[str], Any],
    capfd: pytest.CaptureFixture[str],
) -> None:
    script = "import time\nprint('deferred pod starts')\ntime.sleep(2)\nprint('deferred pod ends')\n"

    run = run_dag_file(kpo_dag("kpo_deferrable", kubeconfig, script, "deferrable=True,"))

    assert (run.state, run.task_states) == ("success", {"pod": "success"})
    # after resuming, the operator reads the whole log in one go and prefixes lines with "logs:"
    assert "[base] logs: deferred pod starts" in run.task_log
    assert "[base] logs: deferred pod ends" in run.task_log
    pod_name = kube_api.created_pods[0]["metadata"]["name"]
    # Only the trigger's async hook watches events; the resumed operator reads logs without
    # timestamps, where the synchronous path reads them with timestamps.
    watches = [q for q in calls(kube_api, "GET", "/events") if q.get("watch") == "True"]
    assert watches and all(q["fieldSelector"] == f"involvedObject.name={pod_name}" for q in watches)
    (log_read,) = calls(kube_api, "GET", f"/pods/{pod_name}/log")
    assert log_read == {"container": "base", "follow": "True", "timestamps": "False"}
    assert len(calls(kube_api, "DELETE", pod_name)) == 1
    assert kube_api.pods == {}


def test_pod_exiting_nonzero_fails_the_task_and_is_marked_checked(
    kube_api: KubernetesApiServer, kubeconfig: Path, run_dag_file: Callable[[str], Any]
) -> None:
    script = "import sys\nprint('about to fail')\nsys.exit(3)\n"

    run = run_dag_file(kpo_dag("kpo_exit_3", kubeconfig, script, "deferrable=False,"))

    assert (run.state, run.task_states) == ("failed", {"pod": "failed"})
    pod_name = kube_api.created_pods[0]["metadata"]["name"]
    assert calls(kube_api, "PATCH", pod_name) == [{}]
    assert len(calls(kube_api, "DELETE", pod_name)) == 1
    assert "about to fail" in kube_api.pod_log(pod_name)


def test_pod_past_its_active_deadline_is_killed_and_fails_the_task(
    kube_api: KubernetesApiServer, kubeconfig: Path, run_dag_file: Callable[[str], Any]
) -> None:
    script = "import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n"
    extra = "active_deadline_seconds=2, deferrable=False,"

    run = run_dag_file(kpo_dag("kpo_deadline", kubeconfig, script, extra))

    assert (run.state, run.task_states) == ("failed", {"pod": "failed"})
    pod_name = kube_api.created_pods[0]["metadata"]["name"]
    assert kube_api.created_pods[0]["spec"]["activeDeadlineSeconds"] == 2
    assert wait_dead(kube_api.pids["default", pod_name]), "the pod's process outlived its deadline"
    assert kube_api.pods == {}


def test_task_execution_timeout_deletes_the_pod_and_ends_its_process(
    kube_api: KubernetesApiServer, kubeconfig: Path, run_dag_file: Callable[[str], Any]
) -> None:
    script = "import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n"
    extra = "execution_timeout=datetime.timedelta(seconds=4), deferrable=False,"

    run = run_dag_file(kpo_dag("kpo_timeout", kubeconfig, script, extra))

    assert (run.state, run.task_states) == ("failed", {"pod": "failed"})
    pod_name = kube_api.created_pods[0]["metadata"]["name"]
    assert calls(kube_api, "DELETE", pod_name), "on_kill did not delete the pod"
    assert wait_dead(kube_api.pids["default", pod_name]), "the pod's process outlived the task"
    assert kube_api.pods == {}


def test_environment_from_a_secret_reaches_the_pod_process(
    kube_api: KubernetesApiServer,
    kubeconfig: Path,
    run_dag_file: Callable[[str], Any],
    tmp_path: Path,
) -> None:
    api = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
    secret = client.V1Secret(
        metadata=client.V1ObjectMeta(name="db-credentials"),
        string_data={"password": "pod-secret-value", "user": "analyst"},
    )
    api.create_namespaced_secret("default", secret)
    seen = tmp_path / "seen.json"
    script = (
        "import json, os\n"
        "names = ['DB_PASSWORD', 'password', 'user']\n"
        f"open({str(seen)!r}, 'w').write(json.dumps({{n: os.environ.get(n) for n in names}}))\n"
    )
    extra = (
        "secrets=[Secret('env', 'DB_PASSWORD', 'db-credentials', 'password'),"
        " Secret('env', None, 'db-credentials')],"
        " deferrable=False,"
    )

    run = run_dag_file(kpo_dag("kpo_secret", kubeconfig, script, extra))

    assert (run.state, run.task_states) == ("success", {"pod": "success"})
    seen_env = json.loads(seen.read_text())
    assert seen_env == {"DB_PASSWORD": "pod-secret-value", "password": "pod-secret-value", "user": "analyst"}
    container = kube_api.created_pods[0]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": "db-credentials"}}]
    assert container["env"][0]["valueFrom"]["secretKeyRef"] == {"key": "password", "name": "db-credentials"}


def test_retry_ignores_the_checked_pod_of_the_failed_try_and_creates_a_new_one(
    kube_api: KubernetesApiServer,
    kubeconfig: Path,
    run_dag_file: Callable[[str], Any],
    tmp_path: Path,
) -> None:
    marker = tmp_path / "first-try-done"
    script = (
        "import pathlib, sys\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if not marker.exists():\n"
        "    marker.touch()\n"
        "    sys.exit(3)\n"
        "print('second try succeeds')"
    )
    extra = (
        "retries=1, retry_delay=datetime.timedelta(seconds=0), on_finish_action='keep_pod', deferrable=False,"
    )

    run = run_dag_file(kpo_dag("kpo_retry", kubeconfig, script, extra))

    assert (run.state, run.task_states) == ("success", {"pod": "success"})
    first, second = (pod["metadata"] for pod in kube_api.created_pods)
    assert (first["labels"]["try_number"], second["labels"]["try_number"]) == ("1", "2")
    kept = kube_api.pods  # keep_pod: both stay, marked so no later try reattaches to them
    assert {name for _, name in kept} == {first["name"], second["name"]}
    assert all(pod["metadata"]["labels"]["already_checked"] == "True" for pod in kept.values())
    # each try looked for a pod to reattach to (before and after creating its own) while skipping
    # checked ones: had the failed try's pod matched, the second try would have found two pods
    lookups = calls(kube_api, "GET", "/namespaces/default/pods")
    assert len(lookups) == 4 and all("already_checked!=True" in q["labelSelector"] for q in lookups)
    assert "[base] second try succeeds" in run.task_log
