"""Administration: "Emails envoyés", every outgoing message with its status, text and attachments."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm.accounts.permissions import admin_required
from crm.mail import services
from crm.mail.models import EMAIL_STATUSES, EmailMessage, email_kind_label
from crm.platform.extensions import db
from crm.platform.forms import Form
from crm.platform.validation import as_id

bp = Blueprint("mail", __name__, url_prefix="/admin/emails")


def _message(message_id: int) -> EmailMessage:
    message = db.session.get(EmailMessage, message_id)
    if message is None:
        abort(404)
    return message


@bp.route("/")
@admin_required
def index():
    status = request.args.get("statut", "")
    status = status if status in EMAIL_STATUSES else ""
    kind = request.args.get("type", "").strip()[:60]
    page = services.list_messages(status=status or None, kind=kind or None, page=as_id(request.args.get("page")) or 1)
    return render_template(
        "mail/index.html",
        page=page,
        counts=services.status_counts(),
        statuses=EMAIL_STATUSES,
        kinds=sorted(((kind, email_kind_label(kind)) for kind in services.known_kinds()), key=lambda item: item[1]),
        params={"statut": status, "type": kind},
        sweep_form=Form(),
    )


@bp.route("/<int:message_id>")
@admin_required
def show(message_id: int):
    message = _message(message_id)
    return render_template(
        "mail/show.html", message=message, resend_form=Form(), can_resend=services.can_resend(message)
    )


@bp.route("/<int:message_id>/pieces/<int:index>")
@admin_required
def attachment(message_id: int, index: int):
    attachments = _message(message_id).attachments or []
    if not 1 <= index <= len(attachments):
        abort(404)
    item = attachments[index - 1]
    filename = (item.get("filename") or f"piece-{index}").replace('"', "").replace("\r", "").replace("\n", "")
    # Always a download: a stored HTML or SVG attachment must never render in the admin's session.
    return Response(
        item.get("content", ""),
        content_type=item.get("content_type") or "application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "X-Content-Type-Options": "nosniff"},
    )


@bp.route("/<int:message_id>/renvoyer", methods=["POST"])
@admin_required
def resend(message_id: int):
    message = _message(message_id)
    if not services.can_resend(message):
        flash("Seul un email en échec peut être renvoyé.", "error")
    else:
        services.resend_email(message, user_id=current_user.id)
        flash("L'email est de nouveau en file d'envoi.", "success")
    return redirect(url_for("mail.show", message_id=message_id))


@bp.route("/relancer", methods=["POST"])
@admin_required
def sweep():
    count = services.sweep_pending_emails()
    if count:
        flash(f"{count} email(s) en attente remis en file d'envoi.", "success")
    else:
        flash("Aucun email à remettre en file (ou file de traitement injoignable).", "info")
    return redirect(url_for("mail.index"))
