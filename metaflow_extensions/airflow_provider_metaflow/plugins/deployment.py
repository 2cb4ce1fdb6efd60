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
from io import BytesIO
from typing import Any

from metaflow import current
from metaflow.exception import MetaflowException
from metaflow.plugins.aws.step_functions.production_token import load_token, new_token, store_token
from metaflow.util import get_username

from .metaflow_adapter import storage_of

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
    project = current.get("project_name")
    if not project:
        dag_id = name or flow_name
        return DagIdentity(dag_id, dag_id.lower(), False)
    if name:
        raise MetaflowException("--name is not supported for @projects. Use --branch instead.")
    # @project sets these on `current` at run time; they are not declared attributes.
    branch = f"{project}.{current.get('branch_name')}".encode()
    prefix = "mfprj-" + base64.b32encode(sha1(branch).digest()).decode()[:16]
    return DagIdentity(str(current.get("project_flow_name")), prefix.lower(), True)


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
        authorization = _strip(authorize) if authorize else load_token(identity.token_prefix)
        if previous_owner != get_username() and authorization != previous_token:
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
        token = new_token(identity.token_prefix, previous_token)
        if token is None:
            raise MetaflowException(
                "--generate-new-token is not supported after --new-token. "
                "Use --new-token to make a new namespace."
            )
        _save_deployment(obj.flow_datastore, identity.dag_id, token)
        obj.echo("A new production token generated.")
    else:
        token = previous_token
    store_token(identity.token_prefix, token)
    obj.echo(f"The namespace of this production flow is *production:{token}*.")
    obj.echo(f"Others can deploy new versions with `airflow create --authorize {token}`.")
    return str(token)


def is_deployed(flow_datastore: Any, dag_id: str) -> bool:
    """True when `airflow create` deployed a DAG of this id against this datastore."""
    return _existing_deployment(flow_datastore, dag_id) is not None


def _strip(token: str) -> str:
    return token[len("production:") :] if token.startswith("production:") else token


def _deployment_path(dag_id: str) -> str:
    return os.path.join(TOKEN_STORAGE_ROOT, dag_id)


def _existing_deployment(flow_datastore: Any, dag_id: str) -> tuple[str, str] | None:
    storage = storage_of(flow_datastore)
    path = _deployment_path(dag_id)
    if not storage.is_file([path])[0]:
        return None
    with storage.load_bytes([path]) as loaded:
        for _key, local_path, _meta in loaded:
            if local_path is not None:
                with open(local_path, encoding="utf-8") as handle:
                    data = json.load(handle)
                return str(data["owner"]), str(data["production_token"])
    return None


def _save_deployment(flow_datastore: Any, dag_id: str, token: str) -> None:
    record = json.dumps({"production_token": token, "owner": get_username()}).encode()
    storage_of(flow_datastore).save_bytes([(_deployment_path(dag_id), BytesIO(record))], overwrite=True)
