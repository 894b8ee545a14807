"""The REST routes of the foundation: version, users, projects, members, API keys, credentials."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from larder import __version__
from larder.server.api.deps import DB, Caller
from larder.server.api.params import KeyName, ProjectName, UserName
from larder.server.api.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    CredentialsOut,
    MemberOut,
    MemberSet,
    ProjectCreate,
    ProjectOut,
    UserCreate,
    UserOut,
    VersionOut,
)
from larder.server.db.models import ApiKey, Project, User
from larder.server.services import apikeys, credentials, projects, users

API_VERSION = "v1"
router = APIRouter()
UserParam = Annotated[str | None, Query(max_length=32, pattern=r"^[a-z][a-z0-9_-]{1,31}$")]


def _user(u: User) -> UserOut:
    return UserOut(
        username=u.username,
        email=u.email,
        role=u.role,
        created_at=u.created_at,
        federated_issuer=u.federated_issuer,
    )


def _project(p: Project) -> ProjectOut:
    return ProjectOut(
        name=p.name,
        description=p.description,
        owner=p.owner.username,
        created_at=p.created_at,
        namespace=p.namespace.name if p.namespace else None,
        members=[MemberOut(username=m.user.username, role=m.role) for m in p.members],
    )


def _key(k: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        name=k.name,
        prefix=k.prefix,
        user=k.user.username,
        scopes=k.scope_list,
        created_at=k.created_at,
        expires_at=k.expires_at,
        revoked_at=k.revoked_at,
    )


@router.get("/version", tags=["platform"], summary="Server and API version (public)")
def version() -> VersionOut:
    return VersionOut(version=__version__, api_version=API_VERSION)


@router.get("/users/me", tags=["users"], summary="The calling user")
def me(db: DB, caller: Caller) -> UserOut:
    return _user(users.get_by_name(db, caller.username))


@router.get("/users", tags=["users"], summary="List users (admin)")
def list_users(db: DB, caller: Caller) -> list[UserOut]:
    return [_user(u) for u in users.list_all(db, caller)]


@router.post("/users", status_code=201, tags=["users"], summary="Create a user (admin)")
def create_user(body: UserCreate, db: DB, caller: Caller) -> UserOut:
    return _user(users.create(db, caller, body.username, body.email, body.role))


@router.get("/users/{username}", tags=["users"], summary="Get a user (self or admin)")
def get_user(username: UserName, db: DB, caller: Caller) -> UserOut:
    return _user(users.get(db, caller, username))


@router.get("/projects", tags=["projects"], summary="List the projects I am a member of")
def list_projects(db: DB, caller: Caller) -> list[ProjectOut]:
    return [_project(p) for p in projects.list_mine(db, caller)]


@router.post("/projects", status_code=201, tags=["projects"], summary="Create a project")
def create_project(body: ProjectCreate, db: DB, caller: Caller) -> ProjectOut:
    return _project(projects.create(db, caller, body.name, body.description, body.namespace))


@router.get("/projects/{project}", tags=["projects"], summary="Get a project")
def get_project(project: ProjectName, db: DB, caller: Caller) -> ProjectOut:
    return _project(projects.get(db, caller, project))


@router.delete("/projects/{project}", status_code=204, tags=["projects"], summary="Delete a project")
def delete_project(project: ProjectName, request: Request, db: DB, caller: Caller) -> Response:
    projects.delete(db, caller, project, request.app.state.secret_box, request.app.state.online_store)
    return Response(status_code=204)


@router.put(
    "/projects/{project}/members/{username}", tags=["projects"], summary="Add a member or change a role"
)
def set_member(
    project: ProjectName, username: UserName, body: MemberSet, db: DB, caller: Caller
) -> ProjectOut:
    return _project(projects.set_member(db, caller, project, username, body.role))


@router.delete("/projects/{project}/members/{username}", tags=["projects"], summary="Remove a member")
def remove_member(project: ProjectName, username: UserName, db: DB, caller: Caller) -> ProjectOut:
    return _project(projects.remove_member(db, caller, project, username))


@router.get(
    "/projects/{project}/credentials",
    tags=["projects"],
    summary="Issue an X.509 client certificate for (me, project)",
)
def get_credentials(project: ProjectName, request: Request, db: DB, caller: Caller) -> CredentialsOut:
    settings = request.app.state.settings
    bundle = credentials.issue(db, caller, request.app.state.ca, project, settings.client_cert_validity_days)
    return CredentialsOut(
        user=caller.username,
        project=project,
        serial=bundle.serial,
        expires_at=bundle.expires_at,
        client_cert=bundle.client_cert,
        client_key=bundle.client_key,
        ca_chain=bundle.ca_chain,
        key_store=bundle.key_store,
        trust_store=bundle.trust_store,
        password=bundle.password,
    )


@router.get("/apikeys", tags=["apikeys"], summary="List my API keys (or a user's, admin)")
def list_apikeys(db: DB, caller: Caller, user: UserParam = None) -> list[ApiKeyOut]:
    return [_key(k) for k in apikeys.list_keys(db, caller, user)]


@router.post("/apikeys", status_code=201, tags=["apikeys"], summary="Create an API key (shown once)")
def create_apikey(body: ApiKeyCreate, db: DB, caller: Caller) -> ApiKeyCreated:
    row, plaintext = apikeys.create(db, caller, body.name, list(body.scopes), body.expires_in_days, body.user)
    return ApiKeyCreated(**_key(row).model_dump(), key=plaintext)


@router.delete("/apikeys/{name}", tags=["apikeys"], summary="Revoke an API key by name or prefix")
def revoke_apikey(name: KeyName, db: DB, caller: Caller, user: UserParam = None) -> ApiKeyOut:
    return _key(apikeys.revoke(db, caller, name, user))
