"""Administration: "File d'événements", the outbox seen by an admin: what waits, what failed, what is
parked in the dead-letter list, with "Rejouer" and a sweep on demand."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from crm.accounts.permissions import admin_required
from crm.platform.extensions import db
from crm.platform.forms import Form
from crm.platform.models import OutboxEvent
from workflows import outbox

bp = Blueprint("outbox", __name__, url_prefix="/admin/file-evenements")


@bp.route("/")
@admin_required
def index():
    return render_template(
        "admin/outbox.html",
        status=outbox.outbox_status(),
        dead=outbox.dead_letters(),
        retrying=outbox.retrying(),
        form=Form(),
    )


@bp.route("/<int:outbox_event_id>/rejouer", methods=["POST"])
@admin_required
def replay(outbox_event_id: int):
    if db.session.get(OutboxEvent, outbox_event_id) is None:
        abort(404)
    if outbox.replay_dead_letters([outbox_event_id], user_id=current_user.id, origin="admin"):
        flash(f"L'événement n°{outbox_event_id} est remis en file : il sera traité dans quelques instants.", "success")
    else:
        flash("Cet événement n'est pas (ou plus) dans les lettres mortes.", "error")
    return redirect(url_for("outbox.index"))


@bp.route("/rejouer-tout", methods=["POST"])
@admin_required
def replay_all():
    ids = outbox.replay_dead_letters(None, user_id=current_user.id, origin="admin")
    flash(
        f"{len(ids)} événement(s) remis en file." if ids else "Aucune lettre morte à rejouer.",
        "success" if ids else "info",
    )
    return redirect(url_for("outbox.index"))


@bp.route("/balayage", methods=["POST"])
@admin_required
def sweep():
    if outbox.request_sweep():
        flash("Balayage demandé : les événements en retard et les emails en attente vont être repris.", "success")
    else:
        flash(
            "La file de traitement (Redis) est injoignable : le balayage n'a pas pu être demandé. "
            "Les événements attendent sans être perdus.",
            "error",
        )
    return redirect(url_for("outbox.index"))
