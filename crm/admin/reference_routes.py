"""Admin pages for reference data: sectors, categories, programmes, offers, FINESS mapping, loss
reasons, event types (blueprint ``referential``).

One generic list/edit view serves every kind (crm/referential/kinds.py); each kind says which fields an
admin edits. Rows are deactivated rather than deleted where records point at them. The pages sit with
the administration, above the accounts whose permissions guard them.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from crm.accounts.permissions import admin_required
from crm.platform.extensions import db
from crm.platform.forms import Form, SingleLine
from crm.platform.validation import as_id
from crm.referential import services
from crm.referential.kinds import Kind, kinds

bp = Blueprint("referential", __name__, url_prefix="/admin/referentiels")


def _kind(name: str) -> Kind:
    kind = kinds().get(name)
    if kind is None:
        abort(404)
    return kind


def _form_class(kind: Kind):
    attrs = {}
    for name, label, ftype, _extra in kind.fields:
        if ftype == "bool":
            attrs[name] = BooleanField(label)
        elif ftype == "int":
            attrs[name] = IntegerField(
                label, validators=[InputRequired("Nombre entier attendu."), NumberRange(min=0, max=10000)]
            )
        elif ftype == "select":
            attrs[name] = SelectField(label, choices=[], validate_choice=False)
        elif ftype == "optional":
            attrs[name] = StringField(label, validators=[Optional(), Length(max=200), SingleLine()])
        else:
            attrs[name] = StringField(
                label,
                validators=[
                    DataRequired("Ce champ est obligatoire."),
                    Length(max=160 if ftype == "text" else 60),
                    SingleLine(),
                ],
            )
    return type(f"{kind.model.__name__}Form", (Form,), attrs)


@bp.route("/")
@admin_required
def index():
    return render_template("referential/index.html", kinds=kinds())


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
        values = {}
        for fname, _, ftype, _ in kind.fields:
            value = form[fname].data
            if ftype == "select":
                value = as_id(value)
            elif isinstance(value, str):
                value = value.strip()
            values[fname] = value
        try:
            services.save_reference_row(name, kind, obj, values)
        except services.ReferenceConflict:
            flash("Enregistrement impossible : ce code existe déjà ou une valeur choisie n'existe plus.", "error")
        else:
            flash("Référentiel mis à jour.", "success")
            return redirect(url_for("referential.list_rows", name=name))
    return render_template("referential/form.html", kind=kind, name=name, form=form, obj=obj)
