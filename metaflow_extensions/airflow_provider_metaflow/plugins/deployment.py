"""DAG naming and production tokens for `airflow create`, as Metaflow's other schedulers do them.

A production token names the namespace of a deployment (`production:TOKEN`). The first deploy
mints one; only its owner, or someone given the token (`--authorize`), can replace the
deployment. Tokens are kept where Metaflow's own Airflow integration keeps them (the flow
datastore's `mf.airflow/` folder), so deployments made with it keep their owners.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from hashlib import sha1
from typing import Any

from metaflow.exception import MetaflowException

from . import metaflow_deploy_adapter as adapter

TOKEN_STORAGE_ROOT = "mf.airflow"


class IncorrectProductionToken(MetaflowException):
    headline = "Incorrect production token"


@dataclass(frozen=True)
class DagIdentity:
    dag_id: str
    token_prefix: str
    is_project: bool


def resolve_dag_identity(name: str | None, flow_name: str) -> DagIdentity:
    """The DAG id: --name, else the flow name; under @project, the project's flow name."""
    project, branch = adapter.project_identity()
    project_flow_name = adapter.project_flow_name()
    if not project or not project_flow_name:
        dag_id = name or flow_name
        return DagIdentity(dag_id, dag_id.lower(), False)
    if name:
        raise MetaflowException("--name is not supported for @projects. Use --branch instead.")
    digest = sha1(f"{project}.{branch}".encode()).digest()
    prefix = "mfprj-" + base64.b32encode(digest).decode()[:16]
    return DagIdentity(project_flow_name, prefix.lower(), True)


def resolve_token(
    obj: Any,
    identity: DagIdentity,
    authorize: str | None,
    given_token: str | None,
    generate_new_token: bool,
) -> str:
    """Authorize this deployment and return its production token."""
    previous = _existing_deployment(obj.flow_datastore, identity.dag_id)
    if previous is None:
        obj.echo(f"It seems this is the first time you are deploying *{identity.dag_id}* to Airflow.")
        previous_owner, previous_token = None, None
    else:
        previous_owner, previous_token = previous
        authorization = (
            _strip(authorize) if authorize else adapter.load_production_token(identity.token_prefix)
        )
        if previous_owner != adapter.username() and authorization != previous_token:
            obj.echo(
                f"There is an existing version of *{identity.dag_id}* on Airflow which was deployed by "
                f"the user *{previous_owner}*. To deploy a new version, use the production token they "
                "used: `airflow create --authorize TOKEN`."
            )
            raise IncorrectProductionToken("Try again with the correct production token.")
    if given_token:
        if identity.is_project:
            raise MetaflowException(
                "--new-token is not supported for @projects. Use --generate-new-token to create a new token."
            )
        token = _strip(given_token)
        _save_deployment(obj.flow_datastore, identity.dag_id, token)
    elif previous_token is None or generate_new_token:
        minted = adapter.new_production_token(identity.token_prefix, previous_token)
        if minted is None:
            raise MetaflowException(
                "--generate-new-token is not supported after --new-token. "
                "Use --new-token to make a new namespace."
            )
        token = minted
        _save_deployment(obj.flow_datastore, identity.dag_id, token)
        obj.echo("A new production token generated.")
    else:
        token = previous_token
    adapter.store_production_token(identity.token_prefix, token)
    obj.echo(f"The namespace of this production flow is *production:{token}*.")
    obj.echo(f"Others can deploy new versions with `airflow create --authorize {token}`.")
    return str(token)


def is_deployed(flow_datastore: Any, dag_id: str) -> bool:
    """True when `airflow create` deployed a DAG of this id against this datastore."""
    return _existing_deployment(flow_datastore, dag_id) is not None


def existing_token(flow_datastore: Any, dag_id: str) -> str | None:
    """The production token of the DAG of this id that `airflow create` deployed, or None."""
    previous = _existing_deployment(flow_datastore, dag_id)
    return previous[1] if previous else None


def _strip(token: str) -> str:
    return token[len("production:") :] if token.startswith("production:") else token


def _deployment_path(dag_id: str) -> str:
    return os.path.join(TOKEN_STORAGE_ROOT, dag_id)


def _existing_deployment(flow_datastore: Any, dag_id: str) -> tuple[str, str] | None:
    content = adapter.read_datastore_file(flow_datastore, _deployment_path(dag_id))
    if content is None:
        return None
    data = json.loads(content)
    return str(data["owner"]), str(data["production_token"])


def _save_deployment(flow_datastore: Any, dag_id: str, token: str) -> None:
    record = json.dumps({"production_token": token, "owner": adapter.username()}).encode()
    adapter.write_datastore_file(flow_datastore, _deployment_path(dag_id), record)
