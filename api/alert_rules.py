"""``/api/alerts/rules``: the alert rules the engine evaluates (:mod:`collector.alerts.rules`).

Viewers read the rules; only admins create, replace and delete them. Per-server grants apply as they do to
silences: a rule confined to some servers by its ``server_id`` matchers (a per-server threshold, for one) is
shown to a non-admin only when one of those servers is granted to them; another's is a 404, as if absent.

The request body is the :class:`~collector.alerts.rules.Rule` model itself (as :class:`RuleBody`), so the
document's schema is the one the engine validates against: durations as seconds or Prometheus strings
(``5m``), annotation templates compiled and rendered once, a ``clear_threshold`` on the safe side of
``threshold``. A problem the rule finds with several fields together is reported under the first field its
message names.

``source`` is the server's to set: a new rule is ``api``, a replaced rule keeps where it came from (a rule
from the rules file is upserted from the file again at the next start). ``id`` may be given on creation;
without one it is derived from the name and the matchers. Every change is announced to the engine, which
reloads at once (:func:`~collector.alerts.config_listener.announce_config_change`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from aiohttp import web
from pydantic import BaseModel, ModelWrapValidatorHandler, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from api.alerts import announce
from api.auth.authz import allowed_servers
from api.errors import ApiError
from api.keys import STORES
from api.openapi import ApiRoutes, body_of
from collector.alerts import rule_store
from collector.alerts.rules import Rule, RuleSource
from collector.alerts.silences import confined_servers

_RULE_ID: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_WORD: Final = re.compile(r"\w+")


def nul_paths(data: object, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Where in ``data`` (JSON-like) a string holds a NUL, which PostgreSQL text and jsonb cannot store."""
    if isinstance(data, str):
        return [path] if "\x00" in data else []
    if isinstance(data, dict):
        return [p for key, value in data.items() for p in nul_paths(value, (*path, str(key)))]
    if isinstance(data, list | tuple):
        return [p for i, value in enumerate(data) for p in nul_paths(value, (*path, i))]
    return []


def _error(message: str, loc: tuple[str | int, ...]) -> InitErrorDetails:
    return InitErrorDetails(
        type=PydanticCustomError("value_error", "{message}", {"message": message}), loc=loc, input=None
    )


class RuleBody(Rule):
    """An alert rule as written through the API (``source`` is ignored: the server sets it)."""

    @model_validator(mode="wrap")
    @classmethod
    def _locate_errors(cls, data: object, handler: ModelWrapValidatorHandler[RuleBody]) -> RuleBody:
        # Rule's whole-rule checks carry no field; name the first field their message mentions, so a client
        # can point at it. A NUL is refused here too: the rule is stored as jsonb.
        if isinstance(data, dict) and isinstance(data.get("matchers"), list):
            # Behind a wrap validator JSON input is validated as Python, where strict mode (the API reads
            # bodies strictly) takes no list for a tuple.
            data = {**data, "matchers": tuple(data["matchers"])}
        try:
            rule = handler(data)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)
            if all(error["loc"] for error in errors):
                raise
            located = []
            for error in errors:
                loc = error["loc"] or next(
                    ((word,) for word in _WORD.findall(error["msg"]) if word in cls.model_fields), ()
                )
                located.append(_error(error["msg"], loc))
            raise ValidationError.from_exception_data(exc.title, located) from None
        bad = nul_paths(rule.model_dump(mode="json"))
        if bad:
            raise ValidationError.from_exception_data(
                cls.__name__, [_error("must not contain NUL characters", loc) for loc in bad]
            )
        return rule

    def to_rule(self, rule_id: str, source: RuleSource) -> Rule:
        """The stored rule: this body with ``rule_id`` and ``source``."""
        return Rule.model_validate({**self.model_dump(), "id": rule_id, "source": source})


class RuleList(BaseModel):
    """Every rule, by name then id."""

    items: list[Rule]


def _rule_id(request: web.Request) -> str:
    raw = request.match_info["id"]
    if not _RULE_ID.fullmatch(raw):
        raise ApiError(404, f"no such alert rule: {raw}")
    return raw


def _conflict(exc: rule_store.RuleConflictError) -> ApiError:
    return ApiError(
        409,
        f"{exc}; edit that rule instead, or change the name or matchers",
        details=[{"field": "name", "problem": "taken with these matchers"}],
    )


async def visible_rules(request: web.Request, rules: Iterable[Rule]) -> list[Rule]:
    """The rules the caller may see: every one for an admin; for others, those not confined to servers or
    confined to at least one server granted to them."""
    allowed = await allowed_servers(request)
    if allowed is None:
        return list(rules)
    granted = {str(server_id) for server_id in allowed}
    return [
        rule
        for rule in rules
        if (confined := confined_servers(rule.matchers)) is None or not confined.isdisjoint(granted)
    ]


routes = ApiRoutes()


@routes.get(
    "/api/alerts/rules",
    summary="List alert rules",
    tag="alerts",
    role="viewer",
    response=RuleList,
    name="alert_rules.list",
)
async def rules_list(request: web.Request) -> RuleList:
    """Every rule the caller may see: the built-in defaults, the rules file's and those written through the
    API (a rule confined to servers none of which is granted to the caller is left out)."""
    return RuleList(items=await visible_rules(request, await rule_store.list_rules(request.app[STORES].pg)))


@routes.post(
    "/api/alerts/rules",
    summary="Create an alert rule",
    tag="alerts",
    role="admin",
    body=RuleBody,
    response=Rule,
    status=201,
    name="alert_rules.create",
)
async def rule_create(request: web.Request) -> Rule:
    """Store a new rule (answered with 201); 409 when its id, or its name with the same matchers, is taken."""
    body = body_of(request, RuleBody)
    stores = request.app[STORES]
    try:
        rule = await rule_store.create_rule(stores.pg, body.to_rule(body.id, "api"))
    except rule_store.RuleConflictError as exc:
        raise _conflict(exc) from None
    await announce(stores.redis, "rule created")
    return rule


@routes.get(
    "/api/alerts/rules/{id}",
    summary="Read an alert rule",
    tag="alerts",
    role="viewer",
    response=Rule,
    name="alert_rules.get",
)
async def rule_get(request: web.Request) -> Rule:
    """One rule; 404 for a rule confined to servers none of which is granted to the caller."""
    rule_id = _rule_id(request)
    rule = await rule_store.get_rule(request.app[STORES].pg, rule_id)
    if rule is None or not await visible_rules(request, [rule]):
        raise ApiError(404, f"no such alert rule: {rule_id}")
    return rule


@routes.route(
    "PUT",
    "/api/alerts/rules/{id}",
    summary="Replace an alert rule",
    tag="alerts",
    role="admin",
    body=RuleBody,
    response=Rule,
    name="alert_rules.update",
)
async def rule_update(request: web.Request) -> Rule:
    """Replace the whole rule, keeping its id and source; ``id`` in the body, if given, must be the path's."""
    rule_id = _rule_id(request)
    body = body_of(request, RuleBody)
    if "id" in body.model_fields_set and body.id != rule_id:
        raise ApiError(
            422,
            f"the body's id {body.id!r} is not the path's {rule_id!r}; a rule's id cannot change",
            details=[{"field": "id", "problem": "differs from the path"}],
        )
    stores = request.app[STORES]
    try:
        rule = await rule_store.update_rule(stores.pg, body.to_rule(rule_id, "api"))
    except rule_store.RuleConflictError as exc:
        raise _conflict(exc) from None
    if rule is None:
        raise ApiError(404, f"no such alert rule: {rule_id}")
    await announce(stores.redis, "rule updated")
    return rule


@routes.route(
    "DELETE",
    "/api/alerts/rules/{id}",
    summary="Delete an alert rule",
    tag="alerts",
    role="admin",
    status=204,
    name="alert_rules.delete",
)
async def rule_delete(request: web.Request) -> web.Response:
    """Remove the rule (answered with 204); its alerts resolve at the engine's next evaluation.

    A default rule stays deleted; a rule of the rules file comes back at the next start unless it is removed
    from the file.
    """
    rule_id = _rule_id(request)
    stores = request.app[STORES]
    if not await rule_store.delete_rule(stores.pg, rule_id):
        raise ApiError(404, f"no such alert rule: {rule_id}")
    await announce(stores.redis, "rule deleted")
    return web.Response(status=204)
