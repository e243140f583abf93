"""Routes declared once: the aiohttp handler, input validation and the OpenAPI 3.1 document, from one source.

A module keeps an :class:`ApiRoutes` table and declares each route on it with its method, path, summary, tag,
minimum role and pydantic models::

    api = ApiRoutes()

    @api.get("/api/things", summary="List things", tag="things", role="viewer",
             query=ThingFilter, response=ThingList)
    async def list_things(request: web.Request) -> ThingList:
        filters = query_of(request, ThingFilter)
        ...

    api.register(app)

Before the handler runs, the wrapper checks the role (401/403), reads the query string into ``query`` (unknown
parameters are refused when the model forbids extras, as :class:`QueryModel` does) and the JSON body into
``body``; bad input is a 422 (invalid JSON a 400) in the one error shape, through
:mod:`api.auth.validation`. A handler returns a pydantic model, serialized by alias, or any aiohttp response.
``openapi_document`` builds the document from every table registered on the app, and :func:`setup_openapi`
serves it at ``GET /api/openapi.json``.

The Prometheus-compatible routes (:mod:`api.prometheus`) follow Prometheus's conventions instead: they
declare ``form``, parameters the handler reads itself from the query string or a form-encoded POST body, and
``error_body``, the error envelope they answer with, with the statuses it comes with in ``errors``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, TypeAdapter

from api.auth.authz import require_role
from api.auth.validation import read_json, read_query
from api.errors import ApiError
from api.keys import OPENAPI_DOCUMENT, OPERATIONS, VERSION
from collector.storage.users import Role

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
Handler = Callable[[web.Request], Awaitable[BaseModel | web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)

_REF_TEMPLATE = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"\{(\w+)(?::([^{}]*))?\}")
"""A path parameter, ``{id}`` or ``{id:regex}`` (a regex without braces: ``[0-9a-f-]+``, not ``[0-9]{4}``)."""


class QueryModel(BaseModel):
    """Base for query-string models: unknown parameters are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class BodyModel(BaseModel):
    """Base for JSON body models: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    """The inside of the one error shape."""

    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """The one error shape every failure is answered with."""

    error: ErrorDetail


@dataclass(frozen=True)
class Operation:
    """One declared route: what the document says about it and what the wrapper enforces."""

    method: Method
    path: str
    summary: str
    tag: str
    role: Role | None
    """The minimum role; None for a public route."""
    handler: Handler
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    """None when the handler answers something other than a model (a page, a free-form document)."""
    media_type: str = "application/json"
    description: str = ""
    status: int = 200
    """The success status: 201 for a creation, 204 for a deletion (no body)."""
    name: str | None = None
    """The aiohttp route name, which the audit log records as the action."""
    route_path: str = ""
    """The path as declared, with any parameter regex (``{id:[0-9a-f-]+}``); ``path`` is without them."""
    form: type[BaseModel] | None = None
    """Parameters the handler reads itself, from the query string (GET) or a form-encoded body (POST)."""
    error_body: type[BaseModel] | None = None
    """The error shape of this route when it is not :class:`ErrorBody`."""
    errors: tuple[tuple[int, str], ...] = ()
    """Error statuses the route documents beyond the usual ones, with their descriptions."""
    also: tuple[tuple[int, str], ...] = ()
    """Other statuses answered with the success response's body (``/api/health``'s 503 when degraded)."""

    @property
    def operation_id(self) -> str:
        """A stable id: the handler's module and name."""
        module = self.handler.__module__.rsplit(".", 1)[-1]
        return f"{module}.{self.handler.__name__}.{self.method.lower()}"


_QUERY: web.RequestKey[BaseModel] = web.RequestKey("openapi.query")
_BODY: web.RequestKey[BaseModel] = web.RequestKey("openapi.body")


def query_of(request: web.Request, model: type[M]) -> M:
    """The validated query of a declared route (``model`` must be the one it declared)."""
    return _validated(request, _QUERY, model)


def body_of(request: web.Request, model: type[M]) -> M:
    """The validated JSON body of a declared route (``model`` must be the one it declared)."""
    return _validated(request, _BODY, model)


def _validated(request: web.Request, key: web.RequestKey[BaseModel], model: type[M]) -> M:
    value = request.get(key)
    if not isinstance(value, model):
        raise TypeError(f"{request.method} {request.path} declared no {model.__name__} input")
    return value


def _wrap(op: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        if op.role is not None:
            # Role before input: an anonymous caller learns nothing about the parameters.
            require_role(request, op.role)
        if op.query is not None:
            request[_QUERY] = read_query(request, op.query)
        elif request.query and op.form is None:
            raise ApiError(
                422, "this endpoint takes no query parameters", details=[{"field": k} for k in request.query]
            )
        if op.body is not None:
            request[_BODY] = await read_json(request, op.body)
        result = await op.handler(request)
        if isinstance(result, web.StreamResponse):
            return result
        return web.json_response(text=result.model_dump_json(by_alias=True), status=op.status)

    handler.__name__ = op.handler.__name__
    handler.__doc__ = op.handler.__doc__
    return handler


@dataclass
class ApiRoutes:
    """A table of declared routes, registered on an app with :meth:`register`."""

    operations: list[Operation] = field(default_factory=list)

    def route(
        self,
        method: Method,
        path: str,
        *,
        summary: str,
        tag: str,
        role: Role | None,
        query: type[BaseModel] | None = None,
        body: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        media_type: str = "application/json",
        status: int = 200,
        name: str | None = None,
        form: type[BaseModel] | None = None,
        error_body: type[BaseModel] | None = None,
        errors: tuple[tuple[int, str], ...] = (),
        also: tuple[tuple[int, str], ...] = (),
    ) -> Callable[[Handler], Handler]:
        """Declare a route; the decorated handler is returned unchanged."""

        def decorate(handler: Handler) -> Handler:
            self.operations.append(
                Operation(
                    method=method,
                    path=_PATH_PARAM.sub(r"{\1}", path),
                    route_path=path,
                    summary=summary,
                    tag=tag,
                    role=role,
                    handler=handler,
                    query=query,
                    body=body,
                    response=response,
                    media_type=media_type,
                    description=(handler.__doc__ or "").strip(),
                    status=status,
                    name=name,
                    form=form,
                    error_body=error_body,
                    errors=errors,
                    also=also,
                )
            )
            return handler

        return decorate

    def get(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        """Declare a GET route (see :meth:`route`)."""
        return self.route("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        """Declare a POST route (see :meth:`route`)."""
        return self.route("POST", path, **kwargs)

    def register(self, app: web.Application) -> None:
        """Add every declared route to ``app`` and to its operations list."""
        registered = app.setdefault(OPERATIONS, [])
        for op in self.operations:
            app.router.add_route(op.method, op.route_path or op.path, _wrap(op), name=op.name)
            registered.append(op)


def _strip_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional parameter's schema without its ``null`` branch: absence is how a query says None."""
    branches = schema.get("anyOf")
    if isinstance(branches, list):
        rest = [b for b in branches if b != {"type": "null"}]
        if len(rest) == 1:
            kept = {k: v for k, v in schema.items() if k != "anyOf"}
            return {**rest[0], **kept}
    return schema


def _parameters(op: Operation, query_schema: dict[str, Any] | None) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": f"^(?:{regex})$"} if regex else {"type": "string"},
        }
        for name, regex in _PATH_PARAM.findall(op.route_path or op.path)
    ]
    if query_schema is None:
        return params
    required = set(query_schema.get("required", []))
    for name, prop in query_schema.get("properties", {}).items():
        schema = _strip_null(dict(prop))
        schema.pop("default", None)
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": schema}
        if "description" in schema:
            param["description"] = schema.pop("description")
        params.append(param)
    return params


def _responses(op: Operation, response_schema: dict[str, Any] | None) -> dict[str, Any]:
    ok_schema = response_schema if response_schema is not None else {}
    error_model = op.error_body.__name__ if op.error_body is not None else "ErrorBody"
    error = {"content": {"application/json": {"schema": {"$ref": _REF_TEMPLATE.format(model=error_model)}}}}
    success: dict[str, Any] = {"description": HTTPStatus(op.status).phrase}
    if op.status != HTTPStatus.NO_CONTENT:
        success["content"] = {op.media_type: {"schema": ok_schema}}
    responses: dict[str, Any] = {str(op.status): success}
    if op.body is not None:
        responses["400"] = {"description": "The body is not valid JSON", **error}
    if op.role is not None:
        responses["401"] = {"description": "Authentication required", **error}
        responses["403"] = {"description": f"Needs the {op.role} role or access to the server", **error}
    if op.query is not None or op.body is not None:
        responses["422"] = {"description": "Invalid input; details name each problem", **error}
    for status, description in op.errors:
        responses[str(status)] = {"description": description, **error}
    for status, description in op.also:
        responses[str(status)] = {
            "description": description,
            "content": {op.media_type: {"schema": ok_schema}},
        }
    responses["4XX"] = {"description": "Client error", **error}
    return responses


def openapi_document(app: web.Application) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every operation registered on ``app``."""
    operations = app.get(OPERATIONS, [])
    inputs: list[tuple[tuple[int, str], Literal["validation", "serialization"], TypeAdapter[Any]]] = [
        ((-1, "error"), "serialization", TypeAdapter(ErrorBody))
    ]
    for i, op in enumerate(operations):
        if op.error_body is not None:
            inputs.append(((i, "error"), "serialization", TypeAdapter(op.error_body)))
        parts = (("query", op.query), ("body", op.body), ("form", op.form), ("response", op.response))
        for part, model in parts:
            if model is not None:
                mode: Literal["validation", "serialization"] = (
                    "serialization" if part == "response" else "validation"
                )
                inputs.append(((i, part), mode, TypeAdapter(model)))
    schemas, defs = TypeAdapter.json_schemas(inputs, ref_template=_REF_TEMPLATE)
    components: dict[str, Any] = dict(defs.get("$defs", {}))

    def schema_of(i: int, part: str, mode: Literal["validation", "serialization"]) -> dict[str, Any] | None:
        found = schemas.get(((i, part), mode))
        if found is None:
            return None
        # A top-level model is referenced like any other, so it appears once under components.
        ref = found.get("$ref")
        if ref is None:
            return dict(found)
        return {"$ref": ref}

    paths: dict[str, dict[str, Any]] = {}
    for i, op in enumerate(operations):
        form_ref = schema_of(i, "form", "validation")
        # A form is the query string of a GET, the body of a POST.
        query_ref = schema_of(i, "query", "validation") or (form_ref if op.method == "GET" else None)
        query_schema = (
            components[query_ref["$ref"].rsplit("/", 1)[1]]
            if query_ref and "$ref" in query_ref
            else query_ref
        )
        entry: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "tags": [op.tag],
            "parameters": _parameters(op, query_schema),
            "responses": _responses(op, schema_of(i, "response", "serialization")),
            "security": [] if op.role is None else [{"bearer": []}],
        }
        if op.description:
            entry["description"] = op.description
        if op.role is not None:
            entry["x-minimum-role"] = op.role
        body_schema = schema_of(i, "body", "validation")
        if body_schema is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": body_schema}},
            }
        elif form_ref is not None and op.method != "GET":
            entry["requestBody"] = {
                "required": False,
                "content": {"application/x-www-form-urlencoded": {"schema": form_ref}},
            }
        paths.setdefault(_PATH_PARAM.sub(r"{\1}", op.path), {})[op.method.lower()] = entry
    if "ErrorBody" not in components:
        components["ErrorBody"] = ErrorBody.model_json_schema(ref_template=_REF_TEMPLATE)
    return {
        "openapi": "3.1.0",
        "info": {"title": "OpenManager API", "version": app.get(VERSION, "0")},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{"bearer": []}],
    }


routes = ApiRoutes()


@routes.get("/api/openapi.json", summary="This OpenAPI 3.1 document", tag="meta", role=None)
async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI document of every declared route; public, like the docs page that renders it."""
    return web.json_response(request.app[OPENAPI_DOCUMENT])


async def _build_document(app: web.Application) -> None:
    # At start-up every table is registered and the routes never change afterwards: build once.
    app[OPENAPI_DOCUMENT] = openapi_document(app)


def setup_openapi(app: web.Application) -> None:
    """Serve ``GET /api/openapi.json``, built when the app starts from every table registered by then."""
    routes.register(app)
    app.on_startup.append(_build_document)
