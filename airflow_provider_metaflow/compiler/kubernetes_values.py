"""Checks and normal forms for @kubernetes values, with Kubernetes' own naming rules.

Each function takes a value as a decorator, `--with` or Metaflow's configuration may give it
and returns its normal form, or raises InvalidValue saying what is wrong and how to fix it.
Refusing here, at `create`, beats a pod the API server rejects on every DAG run.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"\A{_DNS_LABEL}(\.{_DNS_LABEL})*\Z")
_LABEL_NAME = re.compile(r"\A[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?\Z")
_QUANTITY = re.compile(r"\A[+]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?\Z")

PULL_POLICIES = ("Always", "IfNotPresent", "Never")
QOS_CLASSES = ("Guaranteed", "Burstable")
GPU_VENDORS = ("nvidia", "amd")
TOLERATION_OPERATORS = ("Equal", "Exists")
TOLERATION_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
TOLERATION_FIELDS = ("key", "operator", "value", "effect", "toleration_seconds")
RESERVED_RESOURCES = ("cpu", "memory", "ephemeral-storage")

# V1SecurityContext's fields: scalars by type, nested objects by their own fields.
SECURITY_CONTEXT_SCALARS: dict[str, type] = {
    "allow_privilege_escalation": bool,
    "privileged": bool,
    "proc_mount": str,
    "read_only_root_filesystem": bool,
    "run_as_group": int,
    "run_as_non_root": bool,
    "run_as_user": int,
}
SECURITY_CONTEXT_NESTED: dict[str, dict[str, type]] = {
    "capabilities": {"add": list, "drop": list},
    "seccomp_profile": {"type": str, "localhost_profile": str},
    "se_linux_options": {"level": str, "role": str, "type": str, "user": str},
    "app_armor_profile": {"type": str, "localhost_profile": str},
    "windows_options": {
        "gmsa_credential_spec": str,
        "gmsa_credential_spec_name": str,
        "host_process": bool,
        "run_as_user_name": str,
    },
}


class InvalidValue(ValueError):
    """A value Kubernetes or Metaflow would refuse: what is wrong, and what to write instead."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(what)
        self.what = what
        self.fix = fix


def positive_number(value: Any, unit: str) -> int | float:
    """cpu, memory and disk: a number above zero (Metaflow accepts strings of digits too)."""
    number = _number(value)
    if number is None or number <= 0:
        raise InvalidValue(f"must be a number above zero ({unit}).", f"Write a plain number of {unit}.")
    return number


def whole_number(value: Any, *, minimum: int, what: str) -> int:
    """gpu, shared_memory, tmpfs_size, port: whole numbers, from ints or strings of digits."""
    number = _number(value)
    if number is None or number != int(number) or number < minimum:
        raise InvalidValue(f"must be a whole number of {what}, at least {minimum}.", "Write an integer.")
    return int(number)


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return int(value) if float(value).is_integer() else float(value)


def flag(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise InvalidValue("must be True or False.", "Write True or False (or leave it out).")


def one_of(value: Any, choices: tuple[str, ...], *, ignore_case: bool = False) -> str:
    if isinstance(value, str):
        for choice in choices:
            if value == choice or (ignore_case and value.lower() == choice.lower()):
                return choice
    raise InvalidValue(
        f"must be one of {', '.join(choices)}{' (any case)' if ignore_case else ''}.",
        f"Use one of {', '.join(repr(c) for c in choices)}.",
    )


def dns_label(value: Any, what: str) -> str:
    """Namespaces: lower-case letters, digits and '-', at most 63 characters."""
    if isinstance(value, str) and len(value) <= 63 and re.fullmatch(_DNS_LABEL, value):
        return value
    raise InvalidValue(
        f"is not a valid Kubernetes {what} name (lower-case letters, digits and '-', starting and "
        "ending with a letter or digit, at most 63 characters).",
        f"Use the {what}'s name as `kubectl get` shows it.",
    )


def dns_subdomain(value: Any, what: str) -> str:
    """Secrets, claims, service accounts: DNS subdomains of at most 253 characters."""
    if isinstance(value, str) and len(value) <= 253 and _DNS_SUBDOMAIN.match(value):
        return value
    raise InvalidValue(
        f"{value!r} is not a valid Kubernetes {what} name (lower-case letters, digits, '-' and '.', "
        "at most 253 characters).",
        f"Use the {what}'s name as `kubectl get` shows it.",
    )


def names(value: Any, what: str, *, single_string: bool) -> tuple[str, ...]:
    """A list of object names (JSON text from the configuration); a single string is one name
    where Metaflow reads it so."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        value = json_or_value(value)
    if value is None or value == "":
        return ()
    if isinstance(value, str) and single_string:
        value = [value]
    if not isinstance(value, list | tuple):
        raise InvalidValue(f"must be a list of {what} names.", f'Write a list, e.g. ["my-{what}"].')
    return tuple(dns_subdomain(item, what) for item in value)


def label_key(key: Any) -> str:
    """Label and annotation keys: an optional DNS-subdomain prefix and '/', then a name."""
    if isinstance(key, str):
        prefix, _, name = key.rpartition("/")
        prefix_ok = not prefix or (len(prefix) <= 253 and _DNS_SUBDOMAIN.match(prefix))
        if prefix_ok and len(name) <= 63 and _LABEL_NAME.match(name):
            return key
    raise InvalidValue(
        f"key {key!r} is not a valid Kubernetes key (an optional DNS prefix and '/', then up to 63 "
        "letters, digits, '-', '_' or '.', starting and ending with a letter or digit).",
        "Rename the key.",
    )


def label_value(value: Any, key: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str) and (not value or (len(value) <= 63 and _LABEL_NAME.match(value))):
        return value
    raise InvalidValue(
        f"value {value!r} of {key!r} is not a valid Kubernetes label value (up to 63 letters, digits, "
        "'-', '_' or '.', starting and ending with a letter or digit, or empty).",
        "Shorten or rename the value, or put it in an annotation.",
    )


def key_values(value: Any, *, labels: bool, requires_value: bool) -> dict[str, str]:
    """A mapping, or Metaflow's comma-separated 'k=v,k2=v2' form, checked as labels or annotations."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        value = _parse_key_value_list(value, requires_value)
    if not isinstance(value, Mapping):
        raise InvalidValue("must be a dictionary of strings.", 'Write e.g. {"team": "ml"}.')
    result: dict[str, str] = {}
    for key, item in value.items():
        key = label_key(key)
        if labels:
            result[key] = label_value(item, key)
        elif item is None or isinstance(item, str):
            result[key] = item or ""
        else:
            raise InvalidValue(f"value of {key!r} must be a string.", f"Quote it: {str(item)!r}.")
    return result


def _parse_key_value_list(text: str, requires_value: bool) -> dict[str, str | None]:
    result: dict[str, str | None] = {}
    for item in text.split(","):
        key, sep, val = item.partition("=")
        if (requires_value and not sep) or not key:
            raise InvalidValue(f"cannot read {text!r} as key=value pairs.", "Write 'key=value,key2=value2'.")
        if key in result:
            raise InvalidValue(f"names {key!r} twice.", "Give each key once.")
        result[key] = val if sep else None
    return result


def json_or_value(value: Any) -> Any:
    """Metaflow's configuration holds lists and dicts as JSON text."""
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as error:
            raise InvalidValue(f"is not valid JSON ({error.msg}).", "Write it as JSON.") from None
    return value


def tolerations(value: Any) -> list[dict[str, Any]]:
    """A list of tolerations (JSON text from the configuration)."""
    items = json_or_value(value)
    if not items:
        return []
    if not isinstance(items, list | tuple):
        raise InvalidValue(
            "must be a list of tolerations.", 'Write e.g. [{"key": "gpu", "operator": "Exists"}].'
        )
    return [toleration(item) for item in items]


def volume_claims(value: Any) -> list[tuple[str, str]]:
    """Claim name -> mount path (JSON text from the configuration)."""
    claims = json_or_value(value)
    if not claims:
        return []
    if not isinstance(claims, Mapping):
        raise InvalidValue("must map claim names to mount paths.", 'Write e.g. {"my-claim": "/data"}.')
    return [
        (dns_subdomain(claim, "persistent volume claim"), absolute_path(path))
        for claim, path in claims.items()
    ]


def extended_resources(value: Any) -> dict[str, str]:
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidValue("must map resource names to amounts.", 'Write e.g. {"example.com/fpga": "1"}.')
    result = {}
    for key, amount in value.items():
        if key in RESERVED_RESOURCES:
            raise InvalidValue(
                f"sets {key!r}, which cpu, memory and disk decide.",
                f"Remove {key!r}; set cpu, memory and disk on @kubernetes or @resources.",
            )
        result[label_key(key)] = quantity(amount, key)
    return result


def toleration(item: Any) -> dict[str, Any]:
    """One toleration as Kubernetes validates it, in the client's snake_case field names."""
    if not isinstance(item, Mapping):
        raise InvalidValue(
            f"{item!r} is not a toleration (a dictionary).",
            'Write e.g. {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}.',
        )
    unknown = sorted(str(k) for k in item if k not in TOLERATION_FIELDS)
    if unknown:
        raise InvalidValue(
            f"toleration {dict(item)!r} has unknown fields {unknown}.",
            f"Use only {', '.join(TOLERATION_FIELDS)} (the Kubernetes Python client's snake_case names).",
        )
    result = {k: item.get(k) for k in TOLERATION_FIELDS}
    for name in ("key", "operator", "value", "effect"):
        if result[name] is not None and not isinstance(result[name], str):
            raise InvalidValue(f"toleration field {name}={result[name]!r} must be a string.", "Quote it.")
    if result["operator"] is not None:
        result["operator"] = one_of(result["operator"], TOLERATION_OPERATORS)
    if result["effect"] not in (None, "", *TOLERATION_EFFECTS):
        raise InvalidValue(
            f"toleration effect {result['effect']!r} is not a Kubernetes taint effect.",
            f"Use one of {', '.join(TOLERATION_EFFECTS)}, or leave effect out to match every effect.",
        )
    if result["key"]:
        label_key(result["key"])
    elif result["operator"] != "Exists":
        raise InvalidValue(
            "a toleration without a key must use operator 'Exists' (it tolerates every taint).",
            'Add a key, or write "operator": "Exists".',
        )
    if result["operator"] == "Exists" and result["value"]:
        raise InvalidValue("a toleration with operator 'Exists' cannot have a value.", "Remove the value.")
    if result["toleration_seconds"] is not None:
        seconds = result["toleration_seconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, int):
            raise InvalidValue(f"toleration_seconds={seconds!r} must be a whole number.", "Write an integer.")
        if result["effect"] != "NoExecute":
            raise InvalidValue(
                "toleration_seconds only applies to effect 'NoExecute'.",
                'Add "effect": "NoExecute" or remove toleration_seconds.',
            )
    return result


def security_context(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidValue(
            "must be a dictionary.", 'Write e.g. {"run_as_user": 1000, "run_as_non_root": True}.'
        )
    known = sorted([*SECURITY_CONTEXT_SCALARS, *SECURITY_CONTEXT_NESTED])
    result: dict[str, Any] = {}
    for key, item in value.items():
        if key in SECURITY_CONTEXT_SCALARS:
            result[key] = _typed(item, SECURITY_CONTEXT_SCALARS[key], key)
        elif key in SECURITY_CONTEXT_NESTED:
            fields = SECURITY_CONTEXT_NESTED[key]
            if not isinstance(item, Mapping) or any(k not in fields for k in item):
                raise InvalidValue(
                    f"{key} must be a dictionary with fields among {', '.join(fields)}.",
                    "Fix the field names.",
                )
            result[key] = {k: _typed(v, fields[k], f"{key}.{k}") for k, v in item.items()}
        else:
            raise InvalidValue(
                f"has the unknown field {key!r}.",
                f"Use V1SecurityContext's snake_case fields: {', '.join(known)}.",
            )
    return result


def _typed(value: Any, kind: type, name: str) -> Any:
    if value is None:
        return None
    if kind is list:
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return list(value)
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, kind):
        return value
    raise InvalidValue(f"{name}={value!r} must be {_KIND_NAMES[kind]}.", f"Write {_KIND_NAMES[kind]}.")


_KIND_NAMES = {bool: "True or False", int: "an integer", str: "a string", list: "a list of strings"}


def quantity(value: Any, key: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and _QUANTITY.match(value):
        return value
    raise InvalidValue(
        f"amount {value!r} of {key!r} is not a Kubernetes quantity.", 'Write e.g. "1", "500m" or "2Gi".'
    )


def absolute_path(value: Any) -> str:
    if isinstance(value, str) and value.startswith("/") and ":" not in value and len(value) > 1:
        return value
    raise InvalidValue(
        f"mount path {value!r} must be an absolute path other than '/'.", "Write e.g. '/data'."
    )


def env_name(name: Any) -> str:
    if isinstance(name, str) and name and "=" not in name and name.isprintable():
        return name
    raise InvalidValue(
        f"environment variable name {name!r} is not allowed by Kubernetes.", "Use a name without '='."
    )
