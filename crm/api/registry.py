"""Declaring API operations once: the route, its parameters, body and responses.

Each endpoint is registered with :func:`operation`, which adds the Flask rule and
records what the OpenAPI document says about it; the same declarations parse the
query string (:func:`query_args`) and check the JSON body's shape
(:func:`json_body`), so the document cannot drift from what the code accepts.
The body check is about JSON types only (a string where a number is expected,
an unknown field); the business rules and their messages stay in the services.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlencode

from flask import Blueprint, request

from crm.api import schemas
from crm.api.schemas import MAX_ID
from crm.platform.paging import CursorError, PageTooDeep

MAX_BODY_BYTES = 1024 * 1024
MAX_PER_PAGE = 200


class ApiError(Exception):
    """An error answered as ``{"error": {...}}`` with its HTTP status."""

    def __init__(self, status: int, message: str, fields: dict | None = None, extra: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.fields, self.extra = status, message, fields, extra


@dataclass
class Param:
    name: str
    schema: dict
    description: str
    location: str = "query"
    required: bool = False


@dataclass
class Operation:
    rule: str
    method: str
    endpoint: str
    summary: str
    tag: str
    description: str = ""
    params: list[Param] = field(default_factory=list)
    body: str | None = None
    responses: dict[int, str | None] = field(default_factory=dict)
    authenticated: bool = True
    # The success response's media type (an .ics download is text/calendar, not JSON).
    media_type: str = "application/json"


OPERATIONS: list[Operation] = []

ERROR_DESCRIPTIONS = {
    400: "Requête mal formée : JSON invalide, corps qui n'est pas un objet, mauvais Content-Type, "
    "paramètre de requête invalide.",
    401: "Jeton d'API absent ou invalide.",
    403: "Le rôle ou les départements de l'utilisateur ne permettent pas cette action.",
    404: "Ressource introuvable.",
    409: "Conflit : doublon (numéro FINESS, activité déjà déclarée : error.existing), version périmée, "
    "élément clos ou effacé.",
    413: "Corps de requête trop volumineux (1 Mo au plus).",
    422: "Données refusées : un message en français par champ dans error.fields.",
}


def operation(
    bp: Blueprint,
    rule: str,
    method: str,
    *,
    summary: str,
    tag: str,
    ok: tuple[int, str | None],
    errors: tuple[int, ...] = (),
    params: list[Param] | tuple = (),
    body: str | None = None,
    description: str = "",
    authenticated: bool = True,
    media_type: str = "application/json",
    also: dict[int, str] | None = None,
):
    """Register a view for ``method rule`` and record its OpenAPI description.

    ``also``: other success answers, e.g. ``{200: "X"}`` beside a 201 for "it already existed".
    """

    def decorator(view):
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=view, methods=[method])
        path_params = [
            Param(
                name,
                {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                "Identifiant.",
                location="path",
                required=True,
            )
            for name in re.findall(r"<int:(\w+)>", rule)
        ]
        statuses = set(errors)
        if authenticated:
            statuses.add(401)
        if body is not None:
            statuses |= {400, 413, 422}
        if params:
            statuses.add(400)
        if path_params:
            statuses.add(404)
        OPERATIONS.append(
            Operation(
                rule=rule,
                method=method.lower(),
                endpoint=f"{bp.name}.{view.__name__}",
                summary=summary,
                tag=tag,
                description=description,
                params=path_params + list(params),
                body=body,
                responses={ok[0]: ok[1], **(also or {}), **{status: "Error" for status in sorted(statuses)}},
                authenticated=authenticated,
                media_type=media_type,
            )
        )
        return view

    return decorator


# --- query string ----------------------------------------------------------------------------------


def id_param(name: str, description: str) -> Param:
    return Param(name, {"type": "integer", "minimum": 1, "maximum": MAX_ID}, description)


def date_param(name: str, description: str) -> Param:
    return Param(name, {"type": "string", "format": "date"}, description)


PAGE_PARAMS = [
    Param("page", {"type": "integer", "minimum": 1, "maximum": 100000, "default": 1}, "Numéro de page (1 = première)."),
    Param(
        "per_page",
        {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": 50},
        f"Éléments par page (au plus {MAX_PER_PAGE}).",
    ),
]


def query_args(params: list[Param]) -> dict:
    """The declared query parameters, converted; an invalid value is a 400 with a message per parameter."""
    out, errors = {}, {}
    for param in params:
        if param.location != "query":
            continue
        raw = request.args.get(param.name)
        if raw is None or raw.strip() == "":
            out[param.name] = param.schema.get("default")
            continue
        raw = raw.strip()
        schema = param.schema
        if schema.get("type") == "integer":
            if not re.fullmatch(r"\d{1,10}", raw) or not (
                schema.get("minimum", 0) <= int(raw) <= schema.get("maximum", MAX_ID)
            ):
                errors[param.name] = (
                    f"Nombre entier attendu entre {schema.get('minimum', 0)} et {schema.get('maximum', MAX_ID)}."
                )
                continue
            out[param.name] = int(raw)
        elif schema.get("format") == "date":
            try:
                out[param.name] = date.fromisoformat(raw) if len(raw) == 10 else None
            except ValueError:
                out[param.name] = None
            if out[param.name] is None:
                errors[param.name] = "Date invalide (format attendu : AAAA-MM-JJ)."
        elif "enum" in schema:
            if raw not in schema["enum"]:
                errors[param.name] = "Valeur attendue : " + ", ".join(schema["enum"]) + "."
            out[param.name] = raw
        else:
            if len(raw) > schema.get("maxLength", 200):
                errors[param.name] = f"Pas plus de {schema.get('maxLength', 200)} caractères."
            out[param.name] = raw
    if errors:
        raise ApiError(400, "Paramètre de requête invalide.", errors)
    return out


CURSOR_PARAM = Param(
    "cursor",
    {"type": "string", "maxLength": 200},
    "Curseur opaque de links.next : la page qui suit, au même coût à toute profondeur (au-delà de 10 000 "
    "éléments, page n'est plus accepté).",
)


def keyset_or_400(list_function, *args, **kwargs):
    """A keyset list's page, or the 400 of a forged cursor or of a page number too deep to be served."""
    try:
        return list_function(*args, **kwargs)
    except (CursorError, PageTooDeep) as error:
        name = "cursor" if isinstance(error, CursorError) else "page"
        raise ApiError(400, error.message, {name: error.message}) from error


def page_links(page, serialise) -> dict:
    """The pagination envelope: data, meta and the next/previous page links (relative URLs). A keyset
    page's next link carries its cursor (crm/platform/paging.py)."""

    def link(**changed) -> str:
        args = {k: v for k, v in request.args.items() if k not in ("page", "cursor")}
        args.update(changed)
        return f"{request.path}?{urlencode(args)}"

    if page.keyset:
        following = link(cursor=page.next_cursor) if page.next_cursor else None
    else:
        following = link(page=page.page + 1) if page.has_next else None
    return {
        "data": [serialise(item) for item in page.items] if serialise else page.items,
        "meta": {
            "page": page.page,
            "per_page": page.per_page,
            "total": page.total,
            "pages": page.pages,
            "total_capped": page.total_capped,
        },
        "links": {
            "next": following,
            "prev": link(page=min(page.page - 1, page.pages)) if page.has_prev else None,
        },
    }


# --- JSON body -------------------------------------------------------------------------------------

TYPE_MESSAGES = {
    "string": "Texte attendu.",
    "integer": "Nombre entier attendu.",
    "number": "Nombre attendu.",
    "boolean": "Valeur booléenne attendue (true ou false).",
    "array": "Liste attendue.",
    "object": "Objet JSON attendu.",
}


def _is_type(value, name: str) -> bool:
    if name == "null":
        return value is None
    if name == "string":
        return isinstance(value, str)
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "array":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, dict)
    return False


def _field_error(schema: dict, value) -> str | None:
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if not any(_is_type(value, t) for t in types):
        main = next((t for t in types if t != "null"), "string")
        if main == "array" and schema.get("items", {}).get("type") == "integer":
            return "Liste d'identifiants attendue."
        return TYPE_MESSAGES.get(main, "Valeur invalide.")
    if isinstance(value, int) and not isinstance(value, bool):
        low, high = schema.get("minimum"), schema.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            if schema.get("maximum") == MAX_ID:
                return "Identifiant invalide."
            return f"Valeur attendue entre {low} et {high}."
    if isinstance(value, list) and "items" in schema:
        if len(value) > schema.get("maxItems", 100):
            return f"Pas plus de {schema.get('maxItems', 100)} éléments."
        for item in value:
            if _field_error(schema["items"], item):
                return "Identifiant invalide." if schema["items"].get("type") == "integer" else "Élément invalide."
    return None


def check_shape(schema_name: str, body: dict) -> None:
    """JSON types of each field and no unknown field; 422 with a message per field otherwise."""
    schema = schemas.COMPONENTS[schema_name]
    properties = schema["properties"]
    errors = {}
    for key, value in body.items():
        if key not in properties:
            errors[key] = "Champ inconnu."
        elif message := _field_error(properties[key], value):
            errors[key] = message
    if errors:
        raise ApiError(422, "Données invalides.", errors)


def json_body(schema_name: str) -> dict:
    """The request's JSON object, checked against its declared shape."""
    if request.mimetype != "application/json":
        raise ApiError(400, "Le corps doit être du JSON (en-tête Content-Type: application/json).")
    data = request.get_data(cache=True)
    if len(data) > MAX_BODY_BYTES:
        raise ApiError(413, "Corps de requête trop volumineux (1 Mo au plus).")
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        raise ApiError(400, "JSON invalide.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Le corps doit être un objet JSON ({...}).")
    check_shape(schema_name, body)
    return body
