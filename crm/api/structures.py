"""Structures and their contacts: list, read, create, partial update."""

from __future__ import annotations

from flask import jsonify

from crm.accounts import permissions
from crm.api import serializers
from crm.api.helpers import created, department_code
from crm.api.registry import (
    PAGE_PARAMS,
    ApiError,
    Param,
    id_param,
    json_body,
    keyset_or_400,
    operation,
    page_links,
    query_args,
)
from crm.api.routes import api_user, bp
from crm.platform.extensions import db
from crm.structures import contacts as contact_services
from crm.structures import services
from crm.structures.models import Contact, Structure

TAG = "Structures"
LIST_PARAMS = [
    Param(
        "q",
        {"type": "string", "maxLength": 200},
        "Recherche, insensible aux accents : mots du nom, commune, code postal, n° FINESS ou SIRET.",
    ),
    Param("department", {"type": "string", "maxLength": 3}, "Code du département (31, 2A, 974)."),
    id_param("sector", "Identifiant du secteur."),
    id_param("category", "Identifiant de la catégorie."),
    Param(
        "status",
        {"type": "string", "enum": ["ouvertes", "fermees", "toutes"], "default": "ouvertes"},
        "Structures ouvertes (par défaut, comme la liste de l'interface), fermées, ou toutes.",
    ),
    Param("sort", {"type": "string", "enum": list(services.SORTS), "default": "nom"}, "Ordre de la liste."),
    *PAGE_PARAMS,
]


def get_structure_or_404(structure_id: int) -> Structure:
    structure = db.session.get(Structure, structure_id)
    if structure is None:
        raise ApiError(404, "Structure introuvable.")
    return structure


def editable_structure(structure_id: int) -> Structure:
    structure = get_structure_or_404(structure_id)
    if not permissions.can_edit_structure(api_user(), structure):
        raise ApiError(403, "Cette structure n'est pas dans vos départements : vous pouvez la lire, pas la modifier.")
    return structure


@operation(
    bp,
    "/structures",
    "GET",
    summary="Rechercher des structures",
    tag=TAG,
    ok=(200, "StructurePage"),
    params=LIST_PARAMS,
)
def list_structures():
    args = query_args(LIST_PARAMS)
    page = keyset_or_400(
        services.search_structures,
        args["q"],
        department=department_code(args["department"]),
        sector=args["sector"],
        category=args["category"],
        status=None if args["status"] == "toutes" else args["status"],
        sort=args["sort"],
        page=args["page"],
        per_page=args["per_page"],
    )
    return jsonify(page_links(page, serializers.structure))


@operation(bp, "/structures/<int:structure_id>", "GET", summary="Lire une structure", tag=TAG, ok=(200, "Structure"))
def get_structure(structure_id: int):
    return jsonify(serializers.structure(get_structure_or_404(structure_id)))


@operation(
    bp,
    "/structures",
    "POST",
    summary="Créer une structure",
    tag=TAG,
    ok=(201, "Structure"),
    body="StructureInput",
    errors=(403, 409),
    description="Un animateur crée dans ses départements ; un numéro FINESS déjà porté donne 409 "
    "avec la structure existante dans error.existing.",
)
def create_structure():
    user = api_user()
    if not permissions.can_create_structure(user):
        raise ApiError(403, "Votre rôle ne permet pas de créer des structures.")
    body = json_body("StructureInput")
    code = department_code(body.get("department_code"))
    if code and not permissions.can_edit_department(user, code):
        raise ApiError(
            403,
            "Vous ne pouvez créer des structures que dans vos départements.",
            {"department_code": "Vous ne pouvez créer des structures que dans vos départements."},
        )
    return created(serializers.structure(services.create_structure(body)))


@operation(
    bp,
    "/structures/<int:structure_id>",
    "PATCH",
    summary="Modifier une structure",
    tag=TAG,
    ok=(200, "Structure"),
    body="StructurePatch",
    errors=(403, 409),
    description="Les champs absents gardent leur valeur. Avec « version », une fiche modifiée "
    "entre-temps donne 409. Changer la catégorie sans donner le secteur le déduit.",
)
def update_structure(structure_id: int):
    user = api_user()
    structure = editable_structure(structure_id)
    body = json_body("StructurePatch")
    version = body.pop("version", None)
    code = department_code(body.get("department_code"))
    if code and code != structure.department_code and not permissions.can_edit_department(user, code):
        raise ApiError(
            403,
            "Vous ne pouvez pas déplacer la structure hors de vos départements.",
            {"department_code": "Vous ne pouvez pas déplacer la structure hors de vos départements."},
        )
    data = {**{field: getattr(structure, field) for field in services.STRUCTURE_FIELDS}, **body}
    if body.get("category_id") is not None and "sector_id" not in body:
        data["sector_id"] = None  # deduced from the new category, as the form's default does
    services.update_structure(structure, data, expected_version=version)
    return jsonify(serializers.structure(structure))


# --- contacts --------------------------------------------------------------------------------------


def get_contact_or_404(contact_id: int) -> Contact:
    contact = db.session.get(Contact, contact_id)
    if contact is None:
        raise ApiError(404, "Contact introuvable.")
    return contact


@operation(
    bp,
    "/structures/<int:structure_id>/contacts",
    "GET",
    summary="Contacts d'une structure",
    tag=TAG,
    ok=(200, "ContactPage"),
    params=PAGE_PARAMS,
    description="Un contact effacé à sa demande (RGPD) figure avec erased = true, sans données personnelles.",
)
def list_contacts(structure_id: int):
    args = query_args(PAGE_PARAMS)
    contacts = get_structure_or_404(structure_id).contacts
    start = (args["page"] - 1) * args["per_page"]
    page = services.Page(
        items=contacts[start : start + args["per_page"]],
        total=len(contacts),
        page=args["page"],
        per_page=args["per_page"],
    )
    return jsonify(page_links(page, serializers.contact))


@operation(
    bp,
    "/structures/<int:structure_id>/contacts",
    "POST",
    summary="Ajouter un contact",
    tag=TAG,
    ok=(201, "Contact"),
    body="ContactInput",
    errors=(403,),
)
def create_contact(structure_id: int):
    structure = editable_structure(structure_id)
    body = json_body("ContactInput")
    return created(serializers.contact(contact_services.save_contact(structure, None, body)))


@operation(bp, "/contacts/<int:contact_id>", "GET", summary="Lire un contact", tag=TAG, ok=(200, "Contact"))
def get_contact(contact_id: int):
    return jsonify(serializers.contact(get_contact_or_404(contact_id)))


@operation(
    bp,
    "/contacts/<int:contact_id>",
    "PATCH",
    summary="Modifier un contact",
    tag=TAG,
    ok=(200, "Contact"),
    body="ContactPatch",
    errors=(403, 409),
    description="Les champs absents gardent leur valeur ; un contact effacé (RGPD) ne se modifie plus (409).",
)
def update_contact(contact_id: int):
    contact = get_contact_or_404(contact_id)
    structure = editable_structure(contact.structure_id)
    body = json_body("ContactPatch")
    if contact.erased_at is not None:
        raise ApiError(409, "Ce contact a été effacé à sa demande : il ne peut plus être modifié.")
    current = {field: getattr(contact, field) for field in contact_services.CONTACT_FIELDS}
    contact_services.save_contact(structure, contact, {**current, **body})
    return jsonify(serializers.contact(contact))
