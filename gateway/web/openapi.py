"""``GET /api/openapi.json``: the OpenAPI 3 description of the HTTP API.

Routes described here in full are the web platform's (auth, tokens, streams, system,
metrics).  Every other route of the running application is listed too, from the router,
with its path parameters and the shared error responses, so the document never misses a
route added by another capability; such modules may describe themselves in more detail
by putting entries into ``app[OPENAPI_PATHS]`` (``{path: {method: operation}}``).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

import gateway

OPENAPI_PATHS = web.AppKey("openapi_paths", dict)

_ERR = {"$ref": "#/components/responses/Error"}
_STD = {"401": _ERR, "403": _ERR}


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": {**responses, **_STD}, **extra}


def _json(schema: dict[str, Any], desc: str = "OK") -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string",
         "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}}
_COLLECTION_PARAMS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                  "maximum": 1000, "default": 100}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"},
     "description": "opaque; from `next`/`prev` of the previous page (same sort/q/filters)"},
    {"name": "sort", "in": "query", "schema": {"type": "string"},
     "description": "comma-separated fields, `-` for descending: name, title, disabled, "
                    "stats.status, stats.alive, stats.bitrate, stats.lifetime, "
                    "stats.online_clients, stats.dvr_info.bytes, stats.dvr_info.depth"},
    {"name": "select", "in": "query", "schema": {"type": "string"},
     "description": "comma-separated (dotted) fields to return, e.g. `name,stats.alive`"},
    {"name": "q", "in": "query", "schema": {"type": "string"},
     "description": "case-insensitive substring of name or title"},
    {"name": "disabled", "in": "query", "schema": {"type": "boolean"}},
    {"name": "stats.alive", "in": "query", "schema": {"type": "boolean"}},
    {"name": "stats.status", "in": "query", "schema": {"type": "string"}},
]

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["message", "errors"], "properties": {
        "message": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {
            "type": "array", "items": {"type": "string"}}}}},
    "Stream": {"type": "object", "properties": {
        "name": {"type": "string"}, "title": {"type": "string"},
        "disabled": {"type": "boolean"},
        "inputs": {"type": "array", "maxItems": 2, "items": {"type": "object", "properties": {
            "url": {"type": "string", "description":
                    "rtsp://, rtsps://, file:///, synthetic://?...; passwords are returned "
                    "as `***`; PUT a redacted URL back unchanged to keep the stored one"},
            "transport": {"type": "string", "enum": ["tcp", "udp"]}}}},
        "dvr": {"type": "object", "properties": {
            "expiration": {"type": "integer", "description": "seconds"},
            "storage_limit": {"oneOf": [{"type": "integer"}, {"type": "string"}]}}},
        "vision": {"type": "object"}, "onvif": {"type": "object"},
        "stats": {"readOnly": True, "allOf": [_ref("StreamStats")]}}},
    "StreamStats": {"type": "object", "properties": {
        "status": {"type": "string", "description":
                   "starting|connecting|running|retrying|stopped|disabled"},
        "alive": {"type": "boolean"},
        "bitrate": {"type": "integer", "description": "kbit/s over the last 5 s"},
        "lifetime": {"type": "integer", "description": "ms since the source connected"},
        "last_dts_at": {"type": "integer", "nullable": True, "description": "unix ms"},
        "media_info": {"type": "object", "properties": {"tracks": {"type": "array"}}},
        "online_clients": {"type": "integer"},
        "dvr_info": {"type": "object", "properties": {
            "from": {"type": "number", "nullable": True, "description": "unix s"},
            "depth": {"type": "integer", "description": "s"},
            "bytes": {"type": "integer"},
            "ranges": {"type": "array", "items": {"type": "object", "properties": {
                "from": {"type": "number"}, "duration": {"type": "number"}}}}}},
        "motion_detector": {"type": "object", "properties": {
            "motion_detected_count": {"type": "integer"},
            "episodes_count": {"type": "integer"}}}}},
    "Token": {"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "kind": {"type": "string"},
        "created_at": {"type": "number"}, "expires_at": {"type": "number", "nullable": True},
        "last_used_at": {"type": "number", "nullable": True},
        "token": {"type": "string", "description": "only in the creation response"}}},
    "Session": {"type": "object", "properties": {
        "access_token": {"type": "string"}, "token_type": {"type": "string"},
        "expires_in": {"type": "integer"}, "password_change_required": {"type": "boolean"}}},
}


def _collection(key: str, item: str) -> dict[str, Any]:
    return {"type": "object", "properties": {
        "estimated_count": {"type": "integer"},
        "next": {"type": "string", "nullable": True},
        "prev": {"type": "string", "nullable": True},
        key: {"type": "array", "items": _ref(item)}}}


PATHS: dict[str, dict[str, Any]] = {
    "/healthz": {"get": {"summary": "liveness (no authentication)", "security": [],
                         "responses": {"200": {"description": "OK"}}}},
    "/api/v1/login": {"post": {
        "summary": "log in; sets the session cookie (HttpOnly, SameSite=Strict)",
        "security": [],
        "requestBody": _body({"type": "object", "required": ["login", "password"],
                              "properties": {"login": {"type": "string"},
                                             "password": {"type": "string"}}}),
        "responses": {"200": _json(_ref("Session")), "401": _ERR, "422": _ERR,
                      "429": {"description": "too many failed logins; see Retry-After",
                              "content": {"application/json": {"schema": _ref("Error")}}}}}},
    "/api/v1/logout": {"post": _op("end this session", {"204": {"description": "ended"}})},
    "/api/v1/password": {"post": _op(
        "change the caller's password; ends its other sessions and returns a new one",
        {"200": _json(_ref("Session")), "422": _ERR, "429": _ERR},
        requestBody=_body({"type": "object", "required": ["password", "new_password"],
                           "properties": {"password": {"type": "string"},
                                          "new_password": {"type": "string",
                                                           "minLength": 10}}}))},
    "/api/v1/tokens": {
        "get": _op("API tokens of the caller", {"200": _json(_collection("tokens", "Token"))}),
        "post": _op("create an API token (its secret is shown once)",
                    {"201": _json(_ref("Token"), "created"), "422": _ERR},
                    requestBody=_body({"type": "object", "properties": {
                        "name": {"type": "string"},
                        "expires_in": {"type": "integer", "description": "seconds"}}}))},
    "/api/v1/tokens/{id}": {"delete": _op(
        "revoke an API token", {"204": {"description": "revoked"}, "404": _ERR},
        parameters=[{"name": "id", "in": "path", "required": True,
                     "schema": {"type": "integer"}}])},
    "/api/v1/media-token": {"get": _op(
        "a signed `token=` query value opening /{stream}/... media URLs until it expires",
        {"200": _json({"type": "object", "properties": {
            "stream": {"type": "string"}, "token": {"type": "string"},
            "expires_at": {"type": "integer"}}}), "422": _ERR},
        parameters=[{"name": "stream", "in": "query", "required": True,
                     "schema": {"type": "string"}},
                    {"name": "ttl", "in": "query", "schema": {"type": "integer",
                                                              "default": 600,
                                                              "maximum": 86400}}])},
    "/api/v1/streams": {"get": _op("list streams", {
        "200": _json(_collection("streams", "Stream")), "422": _ERR},
        parameters=_COLLECTION_PARAMS)},
    "/api/v1/streams/{name}": {
        "get": _op("one stream with live stats", {"200": _json(_ref("Stream")), "404": _ERR},
                   parameters=[_NAME, {"name": "select", "in": "query",
                                       "schema": {"type": "string"}}]),
        "put": _op("create, or partially update (applied at once)",
                   {"200": _json(_ref("Stream")), "422": _ERR},
                   parameters=[_NAME], requestBody=_body(_ref("Stream"))),
        "delete": _op("stop and remove; `purge=1` also deletes its recordings",
                      {"204": {"description": "removed"}, "404": _ERR, "409": _ERR},
                      parameters=[_NAME, {"name": "purge", "in": "query",
                                          "schema": {"type": "boolean"}}])},
    "/api/v1/system": {"get": _op(
        "version, uptime, load, CPU, memory, disk, temperature, process figures",
        {"200": _json({"type": "object"})})},
    "/metrics": {"get": _op("Prometheus text exposition (per-stream and process metrics)", {
        "200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}
    })},
    "/api/openapi.json": {"get": _op("this document", {"200": _json({"type": "object"})})},
}


def _discovered(app: web.Application) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for resource in app.router.resources():
        path = re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*):[^{}]*(?:\{[^{}]*\}[^{}]*)*\}", r"{\1}",
                      resource.canonical)
        if path.startswith("/static"):
            continue
        params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                  for p in re.findall(r"\{([^}]+)\}", path)]
        for route in resource:
            method = route.method.lower()
            if method in ("head", "*"):
                continue
            doc = (route.handler.__doc__ or "").strip().splitlines()
            op = _op(doc[0] if doc else f"{route.method} {path} (see SPEC.md)",
                     {"200": {"description": "OK"}, "404": _ERR, "422": _ERR})
            if params:
                op["parameters"] = params
            out.setdefault(path, {})[method] = op
    return out


def document(app: web.Application) -> dict[str, Any]:
    paths = _discovered(app)
    for source in (PATHS, app.get(OPENAPI_PATHS) or {}):
        for path, ops in source.items():
            paths.setdefault(path, {}).update(ops)
    return {
        "openapi": "3.0.3",
        "info": {"title": "camgate", "version": gateway.__version__,
                 "description": "Edge camera gateway: local API and media URLs. Every route "
                                "but /healthz and POST /api/v1/login needs credentials."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"cookie": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "a login session's access_token or an API token"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "camgate_session"},
                "mediaToken": {"type": "apiKey", "in": "query", "name": "token",
                               "description": "media URLs only (/{name}/...): see "
                                              "/api/v1/media-token"},
            },
            "schemas": SCHEMAS,
            "responses": {"Error": {"description": "error",
                                    "content": {"application/json": {
                                        "schema": _ref("Error")}}}},
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI 3 description of this gateway's HTTP API."""
    return web.json_response(document(request.app))


def add_routes(app: web.Application) -> None:
    app[OPENAPI_PATHS] = {}
    app.router.add_get("/api/openapi.json", openapi_json)
