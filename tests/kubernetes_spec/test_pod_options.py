"""Every @kubernetes option (with @resources, @environment and @timeout) reaches the pod that the
real KubernetesPodOperator builds, as Metaflow's own @kubernetes would set it."""

from __future__ import annotations

import platform
from collections.abc import Callable

from kubernetes.client import models as k8s
from pod_testing import Compiled, container, env_values

from airflow_provider_metaflow.kubernetes.pod_spec import POD_FIELD_ENV
from airflow_provider_metaflow.pod_plan import PodPlan, Tmpfs, Toleration, VolumeClaim

PodOf = Callable[[str, str], tuple[PodPlan, k8s.V1Pod]]
SYSTEM_LABELS = {"app.kubernetes.io/name": "metaflow-task", "app.kubernetes.io/part-of": "metaflow"}
PYTHON_IMAGE = "python:{}.{}".format(*platform.python_version_tuple()[:2])
DEFAULT_REQUESTS = {"cpu": "1", "memory": "4096M", "ephemeral-storage": "10240M"}


def _requests_and_limits(pod: k8s.V1Pod) -> tuple[dict[str, str], dict[str, str] | None]:
    resources = container(pod).resources
    return resources.requests, resources.limits


def _volumes(pod: k8s.V1Pod) -> dict[str, k8s.V1Volume]:
    return {volume.name: volume for volume in pod.spec.volumes}


def _mounts(pod: k8s.V1Pod) -> dict[str, str]:
    return {mount.mount_path: mount.name for mount in container(pod).volume_mounts}


def test_bare_kubernetes_step_gets_metaflow_defaults(pod_of: PodOf) -> None:
    plan, pod = pod_of("pod_basics_flow.py", "start")
    assert plan == PodPlan(
        image=PYTHON_IMAGE,
        namespace="default",
        cpu=1,
        memory_mb=4096,
        disk_mb=10240,
        labels=SYSTEM_LABELS,
        annotations={"metaflow/flow_name": "PodBasicsFlow", "metaflow/step_name": "start"},
        active_deadline_seconds=5 * 24 * 3600,
        startup_timeout_seconds=3600,
    )
    step = container(pod)
    assert pod.metadata.namespace == "default"
    assert step.image == PYTHON_IMAGE and step.image_pull_policy is None
    assert step.resources == k8s.V1ResourceRequirements(requests=DEFAULT_REQUESTS, limits=None)
    assert pod.spec.active_deadline_seconds == 5 * 24 * 3600
    assert pod.spec.restart_policy == "Never"
    assert step.termination_message_policy == "FallbackToLogsOnError"
    assert step.command == [] and step.args == []  # the operator adds the step's command
    assert pod.spec.volumes == [] and step.volume_mounts == [] and step.ports == []
    assert pod.spec.tolerations == [] and pod.spec.node_selector == {} and pod.spec.image_pull_secrets == []
    assert pod.spec.service_account_name is None and step.security_context is None and step.env_from == []
    assert step.env == [
        k8s.V1EnvVar(
            name=name, value_from=k8s.V1EnvVarSource(field_ref=k8s.V1ObjectFieldSelector(field_path=path))
        )
        for name, path in POD_FIELD_ENV.items()
    ]
    assert pod.metadata.labels.items() >= SYSTEM_LABELS.items()
    assert pod.metadata.annotations == plan.annotations


def test_step_without_kubernetes_has_no_pod(option_plans: dict[str, Compiled]) -> None:
    for compiled in option_plans.values():
        assert compiled.plans["end"] is None


def test_image_pull_policy_pull_secrets_and_executable(pod_of: PodOf) -> None:
    plan, pod = pod_of("pod_basics_flow.py", "custom_image")
    assert plan.image == "ghcr.io/acme/train:1.4"
    assert plan.executable == "/opt/venv/bin/python"
    assert container(pod).image == "ghcr.io/acme/train:1.4"
    assert container(pod).image_pull_policy == "Always"
    assert pod.spec.image_pull_secrets == [
        k8s.V1LocalObjectReference(name="regcred"),
        k8s.V1LocalObjectReference(name="mirror-cred"),
    ]


def test_namespace_service_account_secret_names_and_port(pod_of: PodOf) -> None:
    plan, pod = pod_of("pod_basics_flow.py", "identity")
    assert (plan.namespace, plan.service_account, plan.port) == ("ml-jobs", "trainer", 8080)
    assert plan.secrets == ("db-credentials", "api-token")
    assert pod.metadata.namespace == "ml-jobs"
    assert pod.spec.service_account_name == "trainer"
    assert container(pod).ports == [k8s.V1ContainerPort(container_port=8080)]
    assert container(pod).env_from == [
        k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name="db-credentials")),
        k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name="api-token")),
    ]


def test_a_single_secrets_string_is_one_secret_name(pod_of: PodOf) -> None:
    plan, pod = pod_of("pod_basics_flow.py", "one_secret")
    assert plan.secrets == ("db-credentials",)
    assert container(pod).env_from == [
        k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name="db-credentials"))
    ]


def test_cpu_memory_and_disk_are_requested_in_metaflow_units(pod_of: PodOf) -> None:
    plan, pod = pod_of("pod_resources_flow.py", "start")
    assert (plan.cpu, plan.memory_mb, plan.disk_mb) == (2, 8192, 20480)
    assert _requests_and_limits(pod) == ({"cpu": "2", "memory": "8192M", "ephemeral-storage": "20480M"}, None)


def test_resources_decorator_raises_each_request_to_the_larger_value(pod_of: PodOf) -> None:
    plan, pod = pod_of("pod_resources_flow.py", "with_resources")
    # @resources(cpu=4, memory=16000, disk=5000) with @kubernetes(cpu=2, memory=8192) and disk's default 10240
    assert (plan.cpu, plan.memory_mb, plan.disk_mb) == (4, 16000, 10240)
    assert _requests_and_limits(pod) == (
        {"cpu": "4", "memory": "16000M", "ephemeral-storage": "10240M"},
        None,
    )


def test_resources_gpu_replaces_kubernetes_gpu_and_the_vendor_names_the_limit(pod_of: PodOf) -> None:
    plan, pod = pod_of("pod_resources_flow.py", "gpus")
    assert (plan.gpu, plan.gpu_vendor) == (2, "amd")
    assert _requests_and_limits(pod) == (DEFAULT_REQUESTS, {"amd.com/gpu": "2"})


def test_zero_gpus_is_an_explicit_limit(pod_of: PodOf) -> None:
    _, pod = pod_of("pod_resources_flow.py", "no_gpus")
    assert _requests_and_limits(pod) == (DEFAULT_REQUESTS, {"nvidia.com/gpu": "0"})


def test_guaranteed_qos_limits_cpu_memory_and_disk_to_the_requests(pod_of: PodOf) -> None:
    plan, pod = pod_of("pod_resources_flow.py", "guaranteed")
    assert (plan.qos, plan.cpu) == ("Guaranteed", 0.5)
    sizes = {"cpu": "0.5", "memory": "1024M", "ephemeral-storage": "10240M"}
    assert _requests_and_limits(pod) == (sizes, {**sizes, "nvidia.com/gpu": "1"})


def test_extended_resources_are_both_requested_and_limited(pod_of: PodOf) -> None:
    _, pod = pod_of("pod_resources_flow.py", "extended")
    extended = {"example.com/fpga": "1", "hugepages-2Mi": "256Mi"}
    assert _requests_and_limits(pod) == ({**DEFAULT_REQUESTS, **extended}, extended)


def test_node_selector_string_form_becomes_a_mapping(pod_of: PodOf) -> None:
    _, pod = pod_of("pod_scheduling_flow.py", "start")
    assert pod.spec.node_selector == {"kubernetes.io/arch": "amd64", "pool": "training"}


def test_compute_pool_adds_its_node_selector(pod_of: PodOf) -> None:
    _, pod = pod_of("pod_scheduling_flow.py", "compute_pool")
    assert pod.spec.node_selector == {"kubernetes.io/os": "linux", "outerbounds.co/compute-pool": "big-gpus"}


def test_tolerations_reach_the_pod_spec(pod_of: PodOf) -> None:
    plan, pod = pod_of("pod_scheduling_flow.py", "tolerant")
    assert plan.tolerations == (
        Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule"),
        Toleration(key="dedicated", operator="Equal", value="ml", effect="NoExecute", toleration_seconds=300),
    )
    assert pod.spec.tolerations == [
        k8s.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule"),
        k8s.V1Toleration(
            key="dedicated", operator="Equal", value="ml", effect="NoExecute", toleration_seconds=300
        ),
    ]


def test_labels_and_annotations_join_metaflows_own(pod_of: PodOf) -> None:
    plan, pod = pod_of("pod_scheduling_flow.py", "labelled")
    assert plan.labels == {"team": "ml", "cost-center": "", **SYSTEM_LABELS}
    assert pod.metadata.labels.items() >= plan.labels.items()
    assert pod.metadata.annotations == {
        "example.com/owner": "ml-team@example.com",
        "note": "{{ not jinja }}",
        "metaflow/flow_name": "PodSchedulingFlow",
        "metaflow/step_name": "labelled",
    }


def test_use_tmpfs_mounts_half_the_memory_and_points_metaflow_tempdir_at_it(pod_of: PodOf) -> None:
    plan, pod = pod_of("pod_volumes_flow.py", "start")
    assert plan.tmpfs == Tmpfs(path="/metaflow_temp", size_mib=3000)
    assert _volumes(pod) == {
        "tmpfs-ephemeral-volume": k8s.V1Volume(
            name="tmpfs-ephemeral-volume",
            empty_dir=k8s.V1EmptyDirVolumeSource(medium="Memory", size_limit="3000Mi"),
        )
    }
    assert _mounts(pod) == {"/metaflow_temp": "tmpfs-ephemeral-volume"}
    assert env_values(pod)["METAFLOW_TEMPDIR"] == "/metaflow_temp"


def test_tmpfs_size_alone_enables_tmpfs_and_tmpfs_tempdir_false_leaves_tempdir_alone(pod_of: PodOf) -> None:
    plan, pod = pod_of("pod_volumes_flow.py", "sized_tmpfs")
    assert plan.tmpfs == Tmpfs(path="/scratch", size_mib=512)
    assert _volumes(pod)["tmpfs-ephemeral-volume"].empty_dir.size_limit == "512Mi"
    assert _mounts(pod) == {"/scratch": "tmpfs-ephemeral-volume"}
    assert "METAFLOW_TEMPDIR" not in env_values(pod)


def test_default_tmpfs_size_follows_kubernetes_memory_not_resources_as_in_metaflow(pod_of: PodOf) -> None:
    plan, _ = pod_of("pod_volumes_flow.py", "tmpfs_and_resources")
    assert plan.memory_mb == 16000
    assert plan.tmpfs == Tmpfs(path="/metaflow_temp", size_mib=2048)


def test_shared_memory_is_a_memory_volume_at_dev_shm(pod_of: PodOf) -> None:
    _, pod = pod_of("pod_volumes_flow.py", "shared_memory")
    assert _volumes(pod) == {
        "dhsm": k8s.V1Volume(
            name="dhsm", empty_dir=k8s.V1EmptyDirVolumeSource(medium="Memory", size_limit="1024Mi")
        )
    }
    assert _mounts(pod) == {"/dev/shm": "dhsm"}


def test_resources_shared_memory_replaces_kubernetes_shared_memory(pod_of: PodOf) -> None:
    plan, pod = pod_of("pod_volumes_flow.py", "shared_memory_from_resources")
    assert plan.shared_memory_mib == 2048
    assert _volumes(pod)["dhsm"].empty_dir.size_limit == "2048Mi"


def test_persistent_volume_claims_are_mounted_where_asked(pod_of: PodOf) -> None:
    plan, pod = pod_of("pod_volumes_flow.py", "claims")
    assert plan.volume_claims == (VolumeClaim("training-data", "/data"), VolumeClaim("model.cache", "/cache"))
    volumes = _volumes(pod)
    # Volume names must be DNS labels: a claim name with a dot gets another volume name.
    assert volumes["training-data"].persistent_volume_claim == k8s.V1PersistentVolumeClaimVolumeSource(
        claim_name="training-data"
    )
    assert volumes["pvc-1"].persistent_volume_claim == k8s.V1PersistentVolumeClaimVolumeSource(
        claim_name="model.cache"
    )
    assert _mounts(pod) == {"/data": "training-data", "/cache": "pvc-1"}


def test_security_context_applies_to_the_step_container(pod_of: PodOf) -> None:
    _, pod = pod_of("pod_security_env_flow.py", "start")
    assert container(pod).security_context == k8s.V1SecurityContext(
        run_as_user=1000,
        run_as_group=3000,
        run_as_non_root=True,
        allow_privilege_escalation=False,
        privileged=False,
    )
    assert pod.spec.security_context is None or pod.spec.security_context == {}


def test_nested_security_context_fields_become_client_models(pod_of: PodOf) -> None:
    _, pod = pod_of("pod_security_env_flow.py", "hardened")
    assert container(pod).security_context == k8s.V1SecurityContext(
        capabilities=k8s.V1Capabilities(drop=["ALL"]),
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
        read_only_root_filesystem=True,
    )


def test_environment_vars_are_env_values_and_override_metaflow_tempdir(pod_of: PodOf) -> None:
    plan, pod = pod_of("pod_security_env_flow.py", "configured")
    assert plan.env == {
        "METAFLOW_TEMPDIR": "/tmp",
        "GREETING": "{{ not jinja }} $(not shell)",
        "MODE": "train",
    }
    env = env_values(pod)
    assert env["GREETING"] == "{{ not jinja }} $(not shell)"
    assert (env["MODE"], env["METAFLOW_TEMPDIR"]) == ("train", "/tmp")
    assert [var.name for var in container(pod).env].count("METAFLOW_TEMPDIR") == 1


def test_timeout_bounds_the_pod_and_the_task(pod_of: PodOf) -> None:
    plan, pod = pod_of("pod_security_env_flow.py", "timed")
    assert (plan.timeout_seconds, plan.active_deadline_seconds) == (330, 330)
    assert plan.execution_timeout_seconds == 330 + 3600  # the pod may take its startup time first
    assert pod.spec.active_deadline_seconds == 330
