"""The OpenAPI 3.1 document, built from the operations' declarations and the schemas."""

from __future__ import annotations

import re

from flask import jsonify

from crm.api.registry import ERROR_DESCRIPTIONS, OPERATIONS, operation
from crm.api.routes import bp
from crm.api.schemas import COMPONENTS, ref

DESCRIPTION = """API JSON de Maillage, le CRM d'animation territoriale.

**Authentification** : `Authorization: Bearer <jeton>` ; un jeton se crée avec
`flask --app wsgi crm token create --email ...`. Les droits sont ceux de l'interface :
un animateur écrit dans ses départements, un manager lit seulement, un organisateur
d'événements gère les événements et leurs inscriptions (et ses relances).

**Pagination** : `?page=1&per_page=50` (au plus 200). Une liste répond
`{"data": [...], "meta": {"page", "per_page", "total", "pages"}, "links": {"next", "prev"}}`,
les liens étant null en bout de liste.

**Idempotence** : les écritures POST (et PATCH / DELETE d'une activité) acceptent l'en-tête
`Idempotency-Key` (1 à 255 caractères ASCII visibles, un UUID par exemple). Une requête renvoyée
avec la même clé, la même méthode, le même chemin et le même corps JSON rend la première réponse
(même statut, même corps, en-tête `Idempotent-Replayed: true`) sans rien réécrire ; la même clé pour
une autre requête est refusée (422). Les clés sont propres à chaque utilisateur et gardées 24 heures ;
seule une réponse de succès est gardée (une requête refusée peut être renvoyée telle quelle). Deux
requêtes simultanées avec la même clé n'écrivent qu'une fois.

**Doublons** : une activité du même auteur, du même type, du même jour et sur les mêmes structures,
déclarée moins de dix minutes après une autre, est refusée (409, l'activité existante dans
`error.existing`) sauf avec `"confirm_duplicate": true`.

**Dates** : ISO 8601, `AAAA-MM-JJ` pour une date, avec le décalage horaire pour un horodatage.

**Erreurs** : toujours du JSON, `{"error": {"status", "message", "fields": {champ: message}}}`,
messages en français : 400 (JSON invalide, corps qui n'est pas un objet, Content-Type autre que
application/json, paramètre invalide), 401, 403, 404, 405, 409 (doublon FINESS avec
`error.existing`, version périmée, opportunité close, contact effacé, passage de statut d'événement
refusé, inscriptions fermées), 413 (corps de plus de 1 Mo),
422 (données refusées : un message par champ ; un champ inconnu est refusé)."""

_document: dict | None = None


# The document's sections in a reader's order, whatever order the endpoint modules were imported in;
# a tag not listed comes after them, in the order its operations were declared.
TAG_ORDER = (
    "Compte",
    "Structures",
    "Activités",
    "Événements",
    "Inscriptions",
    "Indicateurs",
    "Cibles",
    "Documentation",
    "Opportunités",
    "Projets",
    "Référentiel",
    "Relances",
)


def _tag_rank(name: str) -> int:
    return TAG_ORDER.index(name) if name in TAG_ORDER else len(TAG_ORDER)


def _path(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def _response(status: int, schema: str | None, description: str, media_type: str = "application/json") -> dict:
    if media_type != "application/json" and status < 300:
        return {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}
    return {
        "description": description,
        "content": {"application/json": {"schema": ref(schema) if schema else {"type": "object"}}},
    }


def build_document() -> dict:
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        item = {
            "operationId": op.endpoint.split(".", 1)[1],
            "summary": op.summary,
            "tags": [op.tag],
            "parameters": [
                {
                    "name": p.name,
                    "in": p.location,
                    "required": p.required,
                    "description": p.description,
                    "schema": p.schema,
                }
                for p in op.params
            ],
            "responses": {
                str(status): _response(
                    status,
                    schema,
                    "Succès" if status < 300 else ERROR_DESCRIPTIONS.get(status, "Erreur"),
                    op.media_type,
                )
                for status, schema in op.responses.items()
            },
        }
        if op.description:
            item["description"] = op.description
        if not item["parameters"]:
            del item["parameters"]
        if op.body:
            item["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(op.body)}}}
        if not op.authenticated:
            item["security"] = []
        paths.setdefault(_path(op.rule), {})[op.method] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": "Maillage API", "version": "1.0.0", "description": DESCRIPTION},
        "servers": [{"url": bp.url_prefix}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name} for name in sorted(dict.fromkeys(op.tag for op in OPERATIONS), key=_tag_rank)],
        "paths": paths,
        "components": {
            "schemas": COMPONENTS,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "Jeton personnel (crm token create)"}
            },
        },
    }


def document() -> dict:
    global _document
    if _document is None:
        _document = build_document()
    return _document


@operation(
    bp, "/openapi.json", "GET", summary="Ce document OpenAPI", tag="Documentation", ok=(200, None), authenticated=False
)
def openapi():
    return jsonify(document())
