"""A step's @kubernetes (with @resources, @environment and @timeout) -> PodPlan, or Problems.

Metaflow's @kubernetes settles its attributes in two stages, and so does this module, so a
plan comes out the same whether or not Metaflow already initialised the decorators (its CLI
does before `airflow create` runs; `--with kubernetes` and METAFLOW_DECOSPECS attach them):
- init(): empty attributes take the author's METAFLOW_KUBERNETES_* configuration (see
  kubernetes_defaults); tmpfs_size defaults to half of @kubernetes' own memory.
- step_init(): cpu, memory and disk take the larger of @kubernetes and @resources;
  @resources' gpu and shared_memory, when given, replace @kubernetes' ones.
Every attribute is honoured, or refused with a Problem naming the step and the attribute.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_metaflow.compiler import kubernetes_values as values
from airflow_provider_metaflow.compiler.errors import Problem, attribute_problem
from airflow_provider_metaflow.compiler.kubernetes_defaults import (
    KubernetesDefaults,
    config_name,
    fill_from_config,
)
from airflow_provider_metaflow.compiler.kubernetes_values import InvalidValue
from airflow_provider_metaflow.compiler.steps import timeout_seconds
from airflow_provider_metaflow.pod_plan import PodPlan, Tmpfs, Toleration, VolumeClaim

__all__ = ["KubernetesDefaults", "pod_plan"]

SYSTEM_LABELS = {"app.kubernetes.io/name": "metaflow-task", "app.kubernetes.io/part-of": "metaflow"}
COMPUTE_POOL_LABEL = "outerbounds.co/compute-pool"
SHARED_MEMORY_PATH = "/dev/shm"
MIN_ACTIVE_DEADLINE_SECONDS = 60  # Metaflow refuses shorter timeouts for @kubernetes
_SIZES = {"cpu": "cores", "memory": "MB", "disk": "MB"}
# The attributes read here. Any other (a newer Metaflow's) is refused unless left at its default.
# hostname_resolution_timeout only matters to @parallel, which the compiler refuses; Metaflow
# accepts it without @parallel, with no effect, and so does this module.
_KNOWN = frozenset(
    "cpu memory disk image image_pull_policy image_pull_secrets service_account secrets node_selector "
    "namespace gpu gpu_vendor tolerations labels annotations use_tmpfs tmpfs_tempdir tmpfs_size "
    "tmpfs_path persistent_volume_claims shared_memory port compute_pool executable qos "
    "extended_resources security_context hostname_resolution_timeout".split()
)


class _Checker:
    """Runs one check; a failure becomes a Problem naming the step, decorator and attribute."""

    def __init__(
        self, step: str, problems: list[Problem], sources: Mapping[str, str], *, overridable: bool = True
    ) -> None:
        self.step = step
        self.problems = problems
        self.sources = sources  # attribute -> the configuration name its value came from
        self.overridable = overridable  # whether the decorator's own value would replace the configured one

    def __call__(
        self,
        attribute: str,
        value: Any,
        check: Callable[..., Any],
        *args: Any,
        deco: str = "kubernetes",
        **kwargs: Any,
    ) -> Any:
        try:
            return check(value, *args, **kwargs)
        except InvalidValue as error:
            self.refuse(attribute, value, error.what, error.fix, deco=deco)
            return None

    def refuse(self, attribute: str, value: Any, what: str, fix: str, *, deco: str = "kubernetes") -> None:
        source = self.sources.get(attribute) if deco == "kubernetes" else None
        if source:
            what += f" The value comes from {source} in your Metaflow configuration."
            fix += (
                f" Or set {attribute}= on @kubernetes, or fix {source}."
                if self.overridable
                else f" Or fix {source}."
            )
        self.problems.append(attribute_problem(self.step, deco, attribute, value, what, fix))

    def from_config(self, attribute: str) -> _Checker:
        return _Checker(self.step, self.problems, {attribute: config_name(attribute)}, overridable=False)


def pod_plan(
    node: Any,
    problems: list[Problem],
    *,
    flow_name: str,
    defaults: KubernetesDefaults,
    image_registry: Callable[[str], str | None],
) -> PodPlan | None:
    """The pod of a step with @kubernetes; None for a step without one, or with a Problem.

    `defaults` is the author's Metaflow configuration; `image_registry` tells the registry an
    image reference names (Metaflow's own reading). Never changes the step's decorators.
    """
    decorators = {deco.name: deco for deco in node.decorators}
    kubernetes = decorators.get("kubernetes")
    if kubernetes is None:
        return None
    first_problem = len(problems)
    attrs = dict(kubernetes.attributes)
    check = _Checker(node.name, problems, fill_from_config(attrs, dict(kubernetes.defaults), defaults))
    _refuse_unknown(attrs, kubernetes.defaults, check)

    sizes = _sizes(attrs, decorators.get("resources"), check)
    tmpfs = _tmpfs(attrs, check)
    claims = tuple(
        VolumeClaim(claim, path)
        for claim, path in check(
            "persistent_volume_claims", attrs["persistent_volume_claims"], values.volume_claims
        )
        or ()
    )
    _check_mount_paths(claims, tmpfs, sizes.get("shared_memory"), check)
    timeout, deadline = _deadline(decorators.get("timeout"), defaults, check)
    tolerations = check("tolerations", attrs["tolerations"], values.tolerations) or ()
    plan = PodPlan(
        image=_image(attrs["image"], defaults.registry, image_registry, check),
        namespace=check("namespace", attrs["namespace"], values.dns_label, "namespace"),
        cpu=sizes["cpu"],
        memory_mb=sizes["memory"],
        disk_mb=sizes["disk"],
        qos=check("qos", attrs["qos"], values.one_of, values.QOS_CLASSES, ignore_case=True),
        gpu=sizes.get("gpu"),
        gpu_vendor=check(
            "gpu_vendor", attrs["gpu_vendor"], values.one_of, values.GPU_VENDORS, ignore_case=True
        ),
        extended_resources=check("extended_resources", attrs["extended_resources"], values.extended_resources)
        or {},
        executable=_executable(attrs["executable"], check),
        image_pull_policy=_optional(check, attrs, "image_pull_policy", values.one_of, values.PULL_POLICIES),
        image_pull_secrets=check(
            "image_pull_secrets", attrs["image_pull_secrets"], values.names, "secret", single_string=False
        )
        or (),
        service_account=_optional(check, attrs, "service_account", values.dns_subdomain, "service account"),
        node_selector=_node_selector(attrs, check),
        tolerations=tuple(Toleration(**item) for item in tolerations),
        labels=_merged(attrs, "labels", defaults.labels, SYSTEM_LABELS, check),
        annotations=_merged(
            attrs,
            "annotations",
            defaults.annotations,
            {"metaflow/flow_name": flow_name, "metaflow/step_name": node.name},
            check,
        ),
        shared_memory_mib=sizes.get("shared_memory"),
        tmpfs=tmpfs[0] if tmpfs else None,
        volume_claims=claims,
        security_context=check("security_context", attrs["security_context"], values.security_context) or {},
        secrets=_secrets(attrs["secrets"], defaults.secrets, check),
        port=_port(attrs["port"], check),
        env=_environment(decorators.get("environment"), tmpfs, check),
        timeout_seconds=timeout,
        active_deadline_seconds=deadline,
        startup_timeout_seconds=check.from_config("startup_timeout_seconds")(
            "startup_timeout_seconds",
            defaults.startup_timeout_seconds,
            values.whole_number,
            minimum=1,
            what="seconds",
        )
        or 0,
    )
    return plan if len(problems) == first_problem else None


def _refuse_unknown(attrs: dict[str, Any], class_defaults: Mapping[str, Any], check: _Checker) -> None:
    for name in sorted(set(attrs) - _KNOWN):
        if attrs[name] != class_defaults.get(name):
            check.refuse(
                name,
                attrs[name],
                "is not known to this provider (it is newer than the provider), and running the pod "
                "without it would change what the step gets.",
                "Remove it from the step, or upgrade airflow-provider-metaflow.",
            )


def _sizes(attrs: dict[str, Any], resources: Any, check: _Checker) -> dict[str, Any]:
    """Metaflow's step_init(): the larger of @kubernetes and @resources for cpu, memory and disk;
    @resources' gpu and shared_memory, when given, replace @kubernetes' ones."""
    theirs = dict(resources.attributes) if resources is not None else {}
    sizes: dict[str, Any] = {}
    for name, unit in _SIZES.items():
        mine = check(name, attrs[name], values.positive_number, unit)
        other = None
        if theirs.get(name) is not None:
            other = check(name, theirs[name], values.positive_number, unit, deco="resources")
        sizes[name] = None if mine is None else max(mine, other or 0)
    for name, minimum, what in (("gpu", 0, "GPUs"), ("shared_memory", 1, "MiB")):
        deco, value = (
            ("resources", theirs[name]) if theirs.get(name) is not None else ("kubernetes", attrs[name])
        )
        if value is None or value == "" or (name == "shared_memory" and value == 0):
            continue  # no GPU limit; no shared memory volume (Metaflow reads 0 MiB as none)
        sizes[name] = check(name, value, values.whole_number, deco=deco, minimum=minimum, what=what)
    return sizes


def _tmpfs(attrs: dict[str, Any], check: _Checker) -> tuple[Tmpfs, bool] | None:
    """The tmpfs volume, and whether METAFLOW_TEMPDIR points at it (tmpfs_tempdir)."""
    use = check("use_tmpfs", attrs["use_tmpfs"], values.flag)
    size = attrs["tmpfs_size"]
    if not use and not size:
        return None
    if size:
        size = check("tmpfs_size", size, values.whole_number, minimum=1, what="MiB")
    else:  # Metaflow's default: half of @kubernetes' own memory, before @resources counts
        try:
            size = max(1, int(values.positive_number(attrs["memory"], "MB")) // 2)
        except InvalidValue:
            return None  # memory itself is refused by _sizes
    path = check("tmpfs_path", attrs["tmpfs_path"], values.absolute_path)
    tempdir = check("tmpfs_tempdir", attrs["tmpfs_tempdir"], values.flag)
    if size is None or path is None:
        return None
    return Tmpfs(path=path, size_mib=size), bool(tempdir)


def _check_mount_paths(
    claims: tuple[VolumeClaim, ...], tmpfs: tuple[Tmpfs, bool] | None, shared_memory: Any, check: _Checker
) -> None:
    """Kubernetes refuses two volumes mounted at one path."""
    seen: dict[str, str] = {SHARED_MEMORY_PATH: "shared_memory"} if shared_memory else {}
    if tmpfs:
        if tmpfs[0].path in seen:
            check.refuse(
                "tmpfs_path", tmpfs[0].path, "is where shared memory is mounted.", "Use another path."
            )
        seen[tmpfs[0].path] = "tmpfs_path"
    for claim in claims:
        if claim.mount_path in seen:
            check.refuse(
                "persistent_volume_claims",
                {claim.claim: claim.mount_path},
                f"mounts at {claim.mount_path}, which {seen[claim.mount_path]} already uses.",
                "Give every volume its own mount path.",
            )
        seen[claim.mount_path] = f"claim {claim.claim!r}"


def _deadline(timeout: Any, config: KubernetesDefaults, check: _Checker) -> tuple[int | None, int]:
    """@timeout's total (None without one), and the pod's active deadline: that, or Metaflow's
    run time limit (METAFLOW_DEFAULT_RUNTIME_LIMIT) for a step without @timeout."""
    seconds = timeout_seconds(check.step, timeout, check.problems) if timeout is not None else None
    if seconds is not None:
        deadline: int | None = seconds
        refuse = check
        attribute, deco, value = "seconds", "timeout", timeout.attributes.get("seconds")
    else:
        refuse = check.from_config("run_time_limit")
        attribute, deco, value = "run_time_limit", "kubernetes", config.run_time_limit
        deadline = refuse(attribute, value, values.whole_number, minimum=1, what="seconds")
    if deadline is not None and deadline < MIN_ACTIVE_DEADLINE_SECONDS:
        refuse.refuse(
            attribute,
            value,
            f"gives the pod {deadline} seconds to run; Metaflow needs at least "
            f"{MIN_ACTIVE_DEADLINE_SECONDS} seconds for a step on Kubernetes.",
            f"Use @timeout(seconds={MIN_ACTIVE_DEADLINE_SECONDS}) or longer."
            if deco == "timeout"
            else f"Add @timeout(seconds={MIN_ACTIVE_DEADLINE_SECONDS}) or longer to the step.",
            deco=deco,
        )
    return seconds, deadline or 0


def _image(
    image: Any, registry: str | None, registry_of: Callable[[str], str | None], check: _Checker
) -> str:
    if not isinstance(image, str) or not image or any(c.isspace() for c in image):
        check.refuse(
            "image", image, "must be an image reference without spaces.", "Write e.g. 'python:3.11'."
        )
        return ""
    prefix = (registry or "").rstrip("/")
    if prefix and not registry_of(image) and not image.startswith(prefix + "/"):
        image = f"{prefix}/{image}"  # METAFLOW_KUBERNETES_CONTAINER_REGISTRY, as Metaflow applies it
    return image


def _optional(
    check: _Checker, attrs: dict[str, Any], attribute: str, fn: Callable[..., Any], *args: Any
) -> Any:
    return None if attrs[attribute] in (None, "") else check(attribute, attrs[attribute], fn, *args)


def _executable(raw: Any, check: _Checker) -> str:
    if raw is None or raw == "":
        return "python"  # what Metaflow's environment runs steps with unless told otherwise
    if isinstance(raw, str) and not any(c.isspace() for c in raw):
        return raw
    check.refuse("executable", raw, "must be one program name or path.", "Write e.g. '/opt/venv/bin/python'.")
    return ""


def _secrets(raw: Any, configured: Any, check: _Checker) -> tuple[str, ...]:
    """The step's Secret names, then those of METAFLOW_KUBERNETES_SECRETS (Metaflow mounts both)."""
    mine = check("secrets", raw, values.names, "secret", single_string=True) or ()
    extra = [name.strip() for name in str(configured or "").split(",") if name.strip()]
    theirs = check.from_config("secrets")("secrets", extra, values.names, "secret", single_string=False) or ()
    return tuple(dict.fromkeys([*mine, *theirs]))


def _node_selector(attrs: dict[str, Any], check: _Checker) -> dict[str, str]:
    raw = attrs["node_selector"]
    selector = dict(check("node_selector", raw, values.key_values, labels=True, requires_value=True) or {})
    pool = attrs.get("compute_pool")
    if pool and check("compute_pool", pool, values.label_value, COMPUTE_POOL_LABEL) is not None:
        selector[COMPUTE_POOL_LABEL] = pool
    return selector


def _merged(
    attrs: dict[str, Any], attribute: str, configured: Any, system: dict[str, str], check: _Checker
) -> dict[str, str]:
    """Labels or annotations: the configuration's, then the decorator's, then Metaflow's own (which win)."""
    labels = attribute == "labels"
    from_config = check.from_config(attribute)
    base = from_config(attribute, configured, values.key_values, labels=labels, requires_value=False) or {}
    own = check(attribute, attrs[attribute], values.key_values, labels=labels, requires_value=False) or {}
    return {**base, **own, **system}


def _port(raw: Any, check: _Checker) -> int | None:
    if raw is None or raw == "":
        return None
    port: int | None = check("port", raw, values.whole_number, minimum=1, what="a TCP port")
    if port is not None and port > 65535:
        check.refuse("port", raw, "is above 65535.", "Use a port between 1 and 65535.")
    return port


def _environment(environment: Any, tmpfs: tuple[Tmpfs, bool] | None, check: _Checker) -> dict[str, str]:
    """METAFLOW_TEMPDIR for tmpfs_tempdir, then @environment's vars (which win, as in Metaflow)."""
    env = {"METAFLOW_TEMPDIR": tmpfs[0].path} if tmpfs and tmpfs[1] else {}
    variables = (environment.attributes.get("vars") if environment is not None else None) or {}
    for name, value in variables.items():
        if check("vars", name, values.env_name, deco="environment") is not None:
            env[name] = str(value)
    return env
