"""The loopback Kubernetes API answers the real `kubernetes` client the way a cluster does: log
timestamps and filters, graceful deletion, Status objects, selectors, and no process left behind."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pendulum
import pytest
from kubernetes import client, config
from process_helpers import wait_dead

from airflow_provider_metaflow.testing.kubernetes_api import KubernetesApiServer, label_selector_matches
from airflow_provider_metaflow.testing.kubernetes_pods import ApiError


@pytest.fixture
def server() -> Iterator[KubernetesApiServer]:
    with KubernetesApiServer() as api_server:
        yield api_server


@pytest.fixture
def api(server: KubernetesApiServer, tmp_path: Path) -> client.CoreV1Api:
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    return client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))


def pod(name: str, *argv: str, **container: object) -> dict[str, object]:
    spec = {"name": "base", "image": "python:3.11-slim", "command": list(argv), **container}
    return {"metadata": {"name": name}, "spec": {"restartPolicy": "Never", "containers": [spec]}}


def wait_phase(api: client.CoreV1Api, name: str, phases: set[str], seconds: float = 20) -> client.V1Pod:
    deadline = time.monotonic() + seconds
    while (current := api.read_namespaced_pod(name, "default")).status.phase not in phases:
        assert time.monotonic() < deadline, f"pod {name} stuck in {current.status.phase}"
        time.sleep(0.05)
    return current


def read_log(api: client.CoreV1Api, name: str, **options: object) -> str:
    # as KubernetesPodOperator reads it: the client mangles preloaded text responses
    response = api.read_namespaced_pod_log(
        name, "default", container="base", _preload_content=False, **options
    )
    return str(response.data.decode())


def test_log_lines_carry_parseable_timestamps_and_honour_tail_lines(api: client.CoreV1Api) -> None:
    script = "import sys\nprint('one')\nprint('two', file=sys.stderr)\nprint('three')"
    api.create_namespaced_pod("default", pod("talker", sys.executable, "-c", script))
    done = wait_phase(api, "talker", {"Succeeded"})

    stamped = read_log(api, "talker", timestamps=True)
    tail = read_log(api, "talker", tail_lines=1)

    stamps, messages = zip(*(line.split(" ", 1) for line in stamped.splitlines()), strict=True)
    assert messages == ("one", "two", "three")  # stdout and stderr in one stream, in order
    assert all(pendulum.parse(stamp).year == pendulum.now("UTC").year for stamp in stamps)
    assert tail == "three\n"
    (status,) = done.status.container_statuses
    assert (status.state.terminated.exit_code, status.state.terminated.reason) == (0, "Completed")


def test_deleted_pod_is_gone_once_its_whole_process_group_has_ended(
    api: client.CoreV1Api, server: KubernetesApiServer
) -> None:
    api.create_namespaced_pod("default", pod("sleeper", "sh", "-c", "sleep 60 & echo $!; wait"))
    running = wait_phase(api, "sleeper", {"Running"})
    while not server.pod_log("sleeper").strip():
        time.sleep(0.05)
    pid, child_pid = server.pids["default", "sleeper"], int(server.pod_log("sleeper"))

    deleted = api.delete_namespaced_pod("sleeper", "default", grace_period_seconds=5)

    assert running.status.container_statuses[0].state.running is not None
    assert deleted.metadata.deletion_timestamp is not None
    assert wait_dead(pid) and wait_dead(child_pid)
    deadline = time.monotonic() + 10
    with pytest.raises(client.ApiException) as gone:
        while time.monotonic() < deadline:
            api.read_namespaced_pod("sleeper", "default")
            time.sleep(0.05)
    assert gone.value.status == 404 and '"reason": "NotFound"' in gone.value.body
    assert server.pids["default", "sleeper"] == pid and "sleeper" not in str(server.pods)


def test_pod_past_its_active_deadline_fails_with_deadline_exceeded(api: client.CoreV1Api) -> None:
    manifest = pod("slow", "sleep", "60")
    manifest["spec"]["activeDeadlineSeconds"] = 1  # type: ignore[index]
    api.create_namespaced_pod("default", manifest)

    failed = wait_phase(api, "slow", {"Failed", "Succeeded"})

    assert (failed.status.phase, failed.status.reason) == ("Failed", "DeadlineExceeded")
    terminated = failed.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (143, "Error")  # SIGTERM, as a runtime reports it
    events = api.list_namespaced_event("default", field_selector="involvedObject.name=slow").items
    assert [event.reason for event in events] == ["Scheduled", "Started", "DeadlineExceeded"]


def test_another_process_creates_reads_and_deletes_a_secret(
    api: client.CoreV1Api, server: KubernetesApiServer, tmp_path: Path
) -> None:
    script = textwrap.dedent(
        """
        import sys
        from kubernetes import client, config
        api = client.CoreV1Api(config.new_client_from_config(sys.argv[1]))
        body = {"metadata": {"name": "token"}, "stringData": {"value": "from another process"}}
        api.create_namespaced_secret("default", body)
        print(api.read_namespaced_secret("token", "default").data["value"])
        """
    )
    kubeconfig = str(tmp_path / "kubeconfig")

    created = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-c", script, kubeconfig], capture_output=True, text=True, timeout=60
    )
    api.delete_namespaced_secret("token", "default")

    assert created.returncode == 0, created.stderr
    assert base64.b64decode(created.stdout.strip()) == b"from another process"
    with pytest.raises(client.ApiException) as gone:
        api.read_namespaced_secret("token", "default")
    assert gone.value.status == 404


def test_duplicate_pod_is_refused_with_a_conflict_status(api: client.CoreV1Api) -> None:
    api.create_namespaced_pod("default", pod("twin", "true"))

    with pytest.raises(client.ApiException) as conflict:
        api.create_namespaced_pod("default", pod("twin", "true"))

    assert conflict.value.status == 409 and '"reason": "AlreadyExists"' in conflict.value.body


def test_missing_secret_keeps_the_pod_pending_with_a_config_error(api: client.CoreV1Api) -> None:
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "token"}}}]
    api.create_namespaced_pod("default", pod("no-secret", "true", env=env))
    time.sleep(0.5)

    pending = api.read_namespaced_pod("no-secret", "default")

    assert pending.status.phase == "Pending"
    waiting = pending.status.container_statuses[0].state.waiting
    assert (waiting.reason, waiting.message) == ("CreateContainerConfigError", 'secret "absent" not found')


def test_stopping_the_server_kills_running_pods_and_closes_the_port(tmp_path: Path) -> None:
    with KubernetesApiServer() as server:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        api = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
        api.create_namespaced_pod("default", pod("left-running", "sleep", "60"))
        wait_phase(api, "left-running", {"Running"})
        pid = server.pids["default", "left-running"]

    assert wait_dead(pid)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("app=web,tier!=db", True),
        ("app==web,already_checked!=True", True),
        ("app=web,!airflow-worker", True),
        ("app", True),
        ("!app", False),
        ("app=web,tier=db", False),
    ],
)
def test_label_selectors_match_like_kubernetes(selector: str, matches: bool) -> None:
    assert label_selector_matches(selector, {"app": "web", "tier": "cache"}) is matches


def test_set_based_selector_is_refused_rather_than_misread() -> None:
    with pytest.raises(ApiError) as refused:
        label_selector_matches("tier in (cache, front)", {"tier": "cache"})

    assert refused.value.code == 400
