"""Admin pages for reference data: sectors, categories, programmes, offers, FINESS mapping.

One generic list/edit view serves every kind; each kind says which fields an
admin edits. Rows are deactivated rather than deleted where records point at them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from crm.core.forms import Form, SingleLine
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from crm.accounts.permissions import admin_required
from crm.core.events import diff, record_change
from crm.core.validation import as_id
from crm.events.models import EventType
from crm.extensions import db
from crm.pipeline.models import LossReason
from crm.referential.models import Category, FinessCategoryMapping, Offer, Programme, Sector

bp = Blueprint("referential", __name__, url_prefix="/admin/referentiels")


@dataclass
class Kind:
    model: type
    title: str
    key: str  # primary key attribute
    fields: list[tuple] = field(default_factory=list)  # (name, label, type, extra)
    order: tuple = ()


def _options(model, label_attr="label"):
    return lambda: [("", "—")] + [(str(o.id), getattr(o, label_attr))
                                  for o in db.session.scalars(select(model).order_by(getattr(model, label_attr)))]


KINDS = {
    "secteurs": Kind(Sector, "Secteurs", "id", [
        ("code", "Code", "code", None), ("label", "Libellé", "text", None),
        ("is_es_esms", "Compté comme ES / ESMS dans les indicateurs", "bool", None),
        ("position", "Ordre d'affichage", "int", None)], (Sector.position,)),
    "categories": Kind(Category, "Catégories", "id", [
        ("code", "Code", "code", None), ("label", "Libellé", "text", None),
        ("sector_id", "Secteur", "select", _options(Sector))], (Category.label,)),
    "programmes": Kind(Programme, "Programmes CPOM", "id", [
        ("number", "Numéro", "int", None), ("code", "Code", "code", None), ("label", "Libellé", "text", None),
        ("target_sectors", "Secteurs de la population cible (codes séparés par des virgules)", "optional", None),
        ("active", "Actif", "bool", None)], (Programme.number,)),
    "offres": Kind(Offer, "Offres de services", "id", [
        ("code", "Code", "code", None), ("label", "Libellé", "text", None),
        ("programme_id", "Programme", "select", _options(Programme)), ("active", "Active", "bool", None)],
        (Offer.label,)),
    "finess": Kind(FinessCategoryMapping, "Correspondance des catégories FINESS", "finess_code", [
        ("finess_code", "Code catégorie FINESS", "code", None), ("finess_label", "Libellé FINESS", "text", None),
        ("category_id", "Catégorie", "select", _options(Category))], (FinessCategoryMapping.finess_code,)),
    "raisons": Kind(LossReason, "Raisons de perte ou d'abandon d'une opportunité", "id", [
        ("label", "Libellé", "text", None), ("active", "Active", "bool", None)], (LossReason.label,)),
    "types-evenement": Kind(EventType, "Types d'événement", "id", [
        ("code", "Code", "code", None), ("label", "Libellé", "text", None),
        ("position", "Ordre d'affichage", "int", None), ("active", "Actif", "bool", None)],
        (EventType.position, EventType.label)),
}


def _kind(name: str) -> Kind:
    if name not in KINDS:
        abort(404)
    return KINDS[name]


def _form_class(kind: Kind):
    attrs = {}
    for name, label, ftype, extra in kind.fields:
        if ftype == "bool":
            attrs[name] = BooleanField(label)
        elif ftype == "int":
            attrs[name] = IntegerField(label, validators=[InputRequired("Nombre entier attendu."),
                                                          NumberRange(min=0, max=10000)])
        elif ftype == "select":
            attrs[name] = SelectField(label, choices=[], validate_choice=False)
        elif ftype == "optional":
            attrs[name] = StringField(label, validators=[Optional(), Length(max=200), SingleLine()])
        else:
            attrs[name] = StringField(label, validators=[DataRequired("Ce champ est obligatoire."),
                                                         Length(max=160 if ftype == "text" else 60), SingleLine()])
    return type(f"{kind.model.__name__}Form", (Form,), attrs)


def _values(obj, kind: Kind) -> dict:
    return {name: getattr(obj, name) for name, *_ in kind.fields}


@bp.route("/")
@admin_required
def index():
    return render_template("referential/index.html", kinds=KINDS)


@bp.route("/<name>")
@admin_required
def list_rows(name: str):
    kind = _kind(name)
    rows = db.session.scalars(select(kind.model).order_by(*kind.order)).all()
    return render_template("referential/list.html", kind=kind, name=name, rows=rows)


@bp.route("/<name>/nouveau", methods=["GET", "POST"])
@bp.route("/<name>/<key>", methods=["GET", "POST"])
@admin_required
def edit(name: str, key: str | None = None):
    kind = _kind(name)
    obj = None
    if key is not None:
        ident = as_id(key) if kind.key == "id" else key
        obj = db.session.get(kind.model, ident) if ident is not None else None
        if obj is None:
            abort(404)
    form = _form_class(kind)(obj=obj)
    selects = {n: extra for n, _, t, extra in kind.fields if t == "select"}
    for fname, options in selects.items():
        form[fname].choices = options()
        if request.method == "GET" and obj is not None:
            form[fname].data = str(getattr(obj, fname) or "")
    if form.validate_on_submit():
        before = _values(obj, kind) if obj is not None else {}
        creating = obj is None
        if creating:
            obj = kind.model()
            db.session.add(obj)
        for fname, _, ftype, _ in kind.fields:
            value = form[fname].data
            if ftype == "select":
                value = as_id(value)
            elif isinstance(value, str):
                value = value.strip()
            setattr(obj, fname, value)
        try:
            db.session.flush()
            entity_id = getattr(obj, kind.key)
            record_change(entity_type=f"ref_{name}", entity_id=as_id(entity_id) or 0,
                          action="create" if creating else "update", changes=diff(before, _values(obj, kind)),
                          event_type="reference.changed", payload={"kind": name, "key": str(entity_id)})
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            flash("Enregistrement impossible : ce code existe déjà ou une valeur choisie n'existe plus.", "error")
        else:
            flash("Référentiel mis à jour.", "success")
            return redirect(url_for("referential.list_rows", name=name))
    return render_template("referential/form.html", kind=kind, name=name, form=form, obj=obj)
