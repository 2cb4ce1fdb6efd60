"""The suite's own pytest settings (pyproject.toml): a deprecated API called by the provider's own
code fails the test that reaches it; deprecations inside third-party code stay quiet."""

from __future__ import annotations

import warnings

import pytest


def _warn_from(module: str) -> None:
    """Emit a DeprecationWarning attributed to `module`, as a call of a deprecated API made there is."""
    code = compile("warnings.warn('old API', DeprecationWarning, stacklevel=1)", module, "exec")
    exec(code, {"__name__": module, "warnings": warnings})  # noqa: S102 - fixed source


@pytest.mark.parametrize(
    "module",
    ["airflow_provider_metaflow.operators.step", "metaflow_extensions.airflow_provider_metaflow.plugins.cli"],
)
def test_a_deprecation_warning_from_the_providers_own_modules_is_an_error(module: str) -> None:
    with pytest.raises(DeprecationWarning, match="old API"):
        _warn_from(module)


@pytest.mark.parametrize("module", ["airflow.models.dag", "metaflow.plugins.cards"])
def test_a_deprecation_warning_from_third_party_modules_is_ignored(module: str) -> None:
    with warnings.catch_warnings(record=True) as seen:
        _warn_from(module)

    assert seen == []
