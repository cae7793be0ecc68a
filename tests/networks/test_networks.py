"""Networks (issue 14): référents and their invitation to an event, grappe attribution, the mesh strategy,
the links' CSV import, CRUD by role, the API figures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from crm.events.models import Registration
from crm.networks import services
from crm.networks.models import Grappe, ProgrammeApplication, Referent, StructureLink, StructureLinkType
from crm.pipeline.models import Opportunity
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent
from crm.platform.validation import ValidationFailed
from crm.referential.models import Offer
from crm.structures.contacts import save_contact
from crm.structures.identifiers import luhn_check_digit
from tests.conftest import login, post
from tests.events.factories import add_registration, make_event


def F(prefix: str) -> str:
    """A valid FINESS number from its first 8 digits."""
    return prefix + luhn_check_digit(prefix)


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _offer(code="SPICO_DOSSIERS") -> Offer:
    return db.session.scalar(select(Offer).where(Offer.code == code))


def _type(code="partenaire_dac") -> StructureLinkType:
    return db.session.scalar(select(StructureLinkType).where(StructureLinkType.code == code))


def _contact(structure, email="referente@example.org", first="Claire", last="Dupont"):
    return save_contact(structure, None, {"first_name": first, "last_name": last, "email": email})


@pytest.fixture
def animator(make_user):
    return make_user("animateur", ["31"])


# --- Référents and their invitation ----------------------------------------------------------------------


def test_naming_and_ending_a_referent_writes_audit_and_event(make_structure, animator):
    structure = make_structure()
    contact = _contact(structure)
    referent = services.name_referent({"contact_id": contact.id, "offer_id": _offer().id}, user=animator)
    assert referent.structure_id == structure.id and referent.active
    with pytest.raises(ValidationFailed):  # no second active role for the same offer
        services.name_referent({"contact_id": contact.id, "offer_id": _offer().id}, user=animator)
    services.end_referent(referent, user=animator)
    assert referent.ended_on is not None
    types = [
        e.type
        for e in db.session.scalars(
            select(OutboxEvent).where(OutboxEvent.aggregate_type == "referent").order_by(OutboxEvent.id)
        )
    ]
    assert types == ["referent.named", "referent.ended"]
    assert _count(AuditEntry, AuditEntry.entity_type == "referent") == 2


def test_an_animator_cannot_name_a_referent_outside_their_departments(make_structure, make_user):
    structure = make_structure(department_code="09")
    contact = _contact(structure)
    with pytest.raises(services.Forbidden):
        services.name_referent({"contact_id": contact.id, "offer_id": _offer().id}, user=make_user("animateur", ["31"]))
    with pytest.raises(services.Forbidden):
        services.name_referent({"contact_id": contact.id, "offer_id": _offer().id}, user=make_user("manager"))
    assert services.name_referent({"contact_id": contact.id, "offer_id": _offer().id}, user=make_user("admin"))


def test_inviting_the_referents_of_an_offer_registers_each_once(make_structure, animator, make_user):
    one, two = make_structure(name="EHPAD A"), make_structure(name="EHPAD B", department_code="09")
    admin = make_user("admin")
    for structure, email in ((one, "a@example.org"), (two, "b@example.org")):
        services.name_referent({"contact_id": _contact(structure, email).id, "offer_id": _offer().id}, user=admin)
    no_mail = _contact(one, "", "Sans", "Courriel")
    services.name_referent({"contact_id": no_mail.id, "offer_id": _offer().id}, user=admin)
    other_offer = _contact(one, "c@example.org", "Autre", "Offre")
    services.name_referent({"contact_id": other_offer.id, "offer_id": _offer("INS").id}, user=admin)
    ended = services.name_referent(
        {"contact_id": _contact(one, "d@example.org", "Ancien", "Referent").id, "offer_id": _offer().id}, user=admin
    )
    services.end_referent(ended, user=admin)
    event = make_event(days_ago=-10, department_code="31")
    organiser = make_user("organisateur")

    summary = services.invite_referents(event, _offer().id, user=organiser)
    assert (summary.registered, summary.already, summary.without_email) == (2, 0, 1)
    regs = list(db.session.scalars(select(Registration).where(Registration.event_id == event.id)))
    assert {r.email_key for r in regs} == {"a@example.org", "b@example.org"}
    assert all(r.source == "back_office" and r.structure_id for r in regs)
    # Each registration's event is the one after which the registration_emails rule sends the personal link.
    assert _count(OutboxEvent, OutboxEvent.type == "registration.created") == 2

    again = services.invite_referents(event, _offer().id, user=organiser)
    assert (again.registered, again.already) == (0, 2)
    only_09 = services.invite_referents(make_event(days_ago=-12), _offer().id, user=organiser, department="09")
    assert only_09.registered == 1
    with pytest.raises(services.Forbidden):
        services.invite_referents(event, _offer().id, user=animator)


def test_the_invitation_page_is_for_organisers(client, make_structure, make_user):
    structure = make_structure()
    admin = make_user("admin")
    services.name_referent({"contact_id": _contact(structure).id, "offer_id": _offer().id}, user=admin)
    event = make_event(days_ago=-10)
    login(client, make_user("animateur"))
    assert client.get(f"/reseaux/evenements/{event.id}/inviter-referents").status_code == 403
    post(client, "/deconnexion")
    login(client, make_user("organisateur"))
    assert client.get(f"/reseaux/evenements/{event.id}/inviter-referents").status_code == 200
    response = post(client, f"/reseaux/evenements/{event.id}/inviter-referents", {"offer_id": _offer().id})
    assert response.status_code == 302
    assert _count(Registration, Registration.event_id == event.id) == 1


def test_community_figures_count_reached_referents_and_sessions(make_structure, make_user):
    structure = make_structure()
    admin = make_user("admin")
    contact = _contact(structure, "a@example.org")
    services.name_referent({"contact_id": contact.id, "offer_id": _offer().id}, user=admin)
    services.name_referent(
        {"contact_id": _contact(structure, "b@example.org", "B", "B").id, "offer_id": _offer().id}, user=admin
    )
    for days in (20, 40):
        add_registration(make_event(days_ago=days), "a@example.org", status="present", structure=structure)
    [figures] = services.community_figures()
    assert (figures.referents, figures.reached, figures.sessions_attended) == (2, 1, 2)


# --- Grappes: attribution --------------------------------------------------------------------------------


def _grappe(lead, members, created_on, user, name="Grappe"):
    return services.save_grappe(
        None,
        {
            "name": name,
            "lead_structure_id": str(lead.id),
            "member_ids": ",".join(str(m.id) for m in members),
            "created_on": created_on.isoformat(),
        },
        user=user,
    )


def _attend(structure, days_ago, status="present", type_code="rdv_esms_numerique"):
    event = make_event(days_ago=days_ago, type_code=type_code, title="Rendez-vous ESMS numérique")
    add_registration(event, f"x{event.id}@example.org", status=status, structure=structure)


def test_grappe_attribution_counts_attendance_before_creation_only(make_structure, animator):
    today = datetime.now(UTC).date()
    a, b, c, d, e = (make_structure(name=f"ESMS {n}") for n in "ABCDE")
    before = _grappe(a, [b], today - timedelta(days=10), animator, "Avant")
    after = _grappe(c, [], today - timedelta(days=10), animator, "Après")
    absent = _grappe(d, [], today - timedelta(days=10), animator, "Absent")
    other_type = _grappe(e, [], today - timedelta(days=10), animator, "Webinaire")
    _attend(b, 30)  # a member (not the lead) attended a month before the grappe: it counts
    _attend(c, 2)  # after the creation: it does not
    _attend(d, 30, status="absent")  # registered but absent: it does not
    _attend(e, 30, type_code="webinaire")  # another event type: it does not
    via = services.grappes_formed_via_rendez_vous([before, after, absent, other_type])
    assert via == {before.id}
    attribution = services.grappe_attribution()
    assert (attribution.total, attribution.via_rendez_vous) == (4, 1) and attribution.share == 0.25
    assert attribution.as_dict()["share"] == 0.25


def test_grappe_crud_records_changes_and_respects_roles(make_structure, animator, make_user, client):
    lead, member = make_structure(name="Porteuse"), make_structure(name="Membre")
    grappe = _grappe(lead, [member], date(2026, 3, 1), animator)
    assert {s.id for s in grappe.members} == {lead.id, member.id}
    services.save_grappe(
        grappe,
        {"name": "Grappe 2", "lead_structure_id": lead.id, "status": "constituee", "member_ids": ""},
        user=animator,
    )
    assert [s.id for s in grappe.members] == [lead.id]
    types = [
        e.type
        for e in db.session.scalars(
            select(OutboxEvent).where(OutboxEvent.aggregate_type == "grappe").order_by(OutboxEvent.id)
        )
    ]
    assert types == ["grappe.created", "grappe.updated"]
    outside = make_structure(name="Ariège", department_code="09")
    with pytest.raises(services.Forbidden):
        _grappe(outside, [], date(2026, 3, 1), animator)
    with pytest.raises(ValidationFailed):
        services.save_grappe(None, {"name": "", "lead_structure_id": "999999"}, user=animator)
    login(client, make_user("manager"))
    assert client.get("/reseaux/grappes").status_code == 200
    assert client.get(f"/reseaux/grappes/{grappe.id}").status_code == 200
    assert client.get("/reseaux/grappes/nouvelle").status_code == 403
    assert post(client, "/reseaux/grappes/nouvelle", {"name": "X", "lead_structure_id": lead.id}).status_code == 403


def test_grappe_form_refuses_bad_input_with_a_french_message(client, make_structure, make_user):
    login(client, make_user("animateur", ["31"]))
    response = post(client, "/reseaux/grappes/nouvelle", {"name": "", "lead_structure_id": "abc", "created_on": "x"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Structure porteuse introuvable" in html and "Date invalide" in html
    lead = make_structure()
    response = post(client, "/reseaux/grappes/nouvelle", {"name": "Grappe Comminges", "lead_structure_id": lead.id})
    assert response.status_code == 302


def test_application_status_moves_draft_to_funded(make_structure, animator):
    structure = make_structure()
    grappe = _grappe(structure, [], date(2026, 2, 1), animator)
    application = services.save_application(
        None,
        {"programme": "esms_numerique", "call": "Vague 2", "amount_requested": "25 000"},
        user=animator,
        grappe=grappe,
    )
    assert application.status == "brouillon" and application.amount_requested == 25000
    with pytest.raises(ValidationFailed):  # draft cannot jump to funded
        services.save_application(application, {"status": "financee"}, user=animator)
    db.session.rollback()
    for status in ("deposee", "retenue"):
        services.save_application(application, {"status": status}, user=animator)
    services.save_application(application, {"status": "financee", "amount_granted": "20000"}, user=animator)
    assert application.status == "financee" and application.amount_granted == 20000
    assert _count(OutboxEvent, OutboxEvent.type == "application.updated") == 3
    with pytest.raises(ValidationFailed):  # a structure or a grappe, not both, not none
        services.save_application(None, {"programme": "sun_es", "call": "2026"}, user=animator)


# --- Links, the import and the mesh strategy -------------------------------------------------------------


def _deployed(structure, offer, status):
    from crm.deployment.services import set_status

    set_status(structure, offer.id, status, source="manuel")
    db.session.commit()


def test_mesh_targets_are_the_partners_of_users_that_do_not_use_the_offer(make_structure, animator):
    offer = _offer()
    dac = make_structure(name="DAC 31")
    cpts = make_structure(name="CPTS Sud")
    ehpad = make_structure(name="EHPAD lié au DAC")
    ehpad_09 = make_structure(name="EHPAD Ariège", department_code="09")
    equipped = make_structure(name="EHPAD équipé")
    lonely = make_structure(name="Sans lien")
    _deployed(dac, offer, "usage_actif")
    _deployed(equipped, offer, "deploye")
    _deployed(ehpad, offer, "en_projet")  # a project is not using it yet: still a target
    admin_like = animator
    for a, b, kind in (
        (ehpad, dac, "partenaire_dac"),
        (dac, cpts, "partenaire_cpts"),
        (equipped, dac, "partenaire_dac"),
        (ehpad, cpts, "partenaire_cpts"),
    ):
        services.add_link({"structure_a_id": a.id, "structure_b_id": b.id, "type_id": _type(kind).id}, user=admin_like)
    services.add_link(
        {"structure_a_id": ehpad_09.id, "structure_b_id": dac.id, "type_id": _type().id}, user=admin_like
    )  # one side in the animator's departments is enough
    assert services.uses_offer([dac.id, ehpad.id, equipped.id], offer.id) == {dac.id, equipped.id}
    targets, total = services.mesh_targets(offer.id)
    assert {t.structure.id for t in targets} == {ehpad.id, cpts.id, ehpad_09.id} and total == 3
    assert lonely.id not in {t.structure.id for t in targets}
    assert [s.id for s, _ in next(t for t in targets if t.structure.id == ehpad.id).via] == [dac.id]
    targets_09, total_09 = services.mesh_targets(offer.id, "09")
    assert {t.structure.id for t in targets_09} == {ehpad_09.id} and total_09 == 1
    assert services.mesh_targets(_offer("INS").id) == ([], 0)
    with pytest.raises(ValidationFailed):
        services.add_link({"structure_a_id": dac.id, "structure_b_id": ehpad.id, "type_id": _type().id}, user=animator)


def test_mesh_ranks_partners_by_users_caps_the_page_and_exports_every_row(client, make_structure, make_user, animator):
    offer = _offer()
    users = [make_structure(name=f"Utilisatrice {i}") for i in range(3)]
    for user in users:
        _deployed(user, offer, "usage_actif")
    three = make_structure(name="Zz liée à trois")  # last by name, first by links to users
    one_a, one_b = make_structure(name="Aa liée à une"), make_structure(name="Ab liée à une")
    closed = make_structure(name="Fermée liée")
    closed.is_open = False
    for user in users:
        services.add_link({"structure_a_id": three.id, "structure_b_id": user.id, "type_id": _type().id}, user=animator)
    # the same pair twice under two types counts once; links from either end count
    for kind in ("partenaire_dac", "partenaire_cpts"):
        services.add_link(
            {"structure_a_id": one_a.id, "structure_b_id": users[0].id, "type_id": _type(kind).id}, user=animator
        )
    services.add_link({"structure_a_id": users[1].id, "structure_b_id": one_b.id, "type_id": _type().id}, user=animator)
    services.add_link(
        {"structure_a_id": closed.id, "structure_b_id": users[2].id, "type_id": _type().id}, user=animator
    )
    db.session.commit()

    targets, total = services.mesh_targets(offer.id)
    assert [t.structure.id for t in targets] == [three.id, one_a.id, one_b.id] and total == 3
    assert len(targets[0].via) == 3 and len(targets[1].via) == 2  # both link types are shown
    assert [t.users for t in targets] == [3, 1, 1]  # ...but the same user counts once
    page, total = services.mesh_targets(offer.id, limit=2)
    assert [t.structure.id for t in page] == [three.id, one_a.id] and total == 3
    page, total = services.mesh_targets(offer.id, limit=2, offset=2)
    assert [t.structure.id for t in page] == [one_b.id] and total == 3
    assert services.mesh_targets(offer.id, limit=2, offset=4) == ([], 3)  # past the end: the total still
    everything, total = services.mesh_targets(offer.id, limit=None)  # a whole list: no ids sent back
    assert [t.structure.id for t in everything] == [three.id, one_a.id, one_b.id] and total == 3
    assert [(s.id, label) for s, label in everything[1].via] == sorted(
        [(users[0].id, _type("partenaire_dac").label), (users[0].id, _type("partenaire_cpts").label)],
        key=lambda pair: pair[1],
    )

    login(client, make_user("manager"))
    html = client.get(f"/reseaux/maillage?offre={offer.id}").get_data(as_text=True)
    assert "Partenaires à rencontrer (3)" in html and "maillage/export.csv" in html
    response = client.get(f"/reseaux/maillage/export.csv?offre={offer.id}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data(as_text=True)
    assert body.index("Zz liée à trois") < body.index("Aa liée à une") and "Fermée liée" not in body
    assert "Utilisatrice 0 (" in body
    aa_line = next(line for line in body.splitlines() if "Aa liée à une" in line)
    assert ";1;" in aa_line or ",1," in aa_line  # one user, linked under two types
    xlsx = client.get(f"/reseaux/maillage/export.xlsx?offre={offer.id}&departement=31")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    assert client.get(f"/reseaux/maillage/export.pdf?offre={offer.id}").status_code == 404
    post(client, "/deconnexion")
    assert client.get(f"/reseaux/maillage/export.csv?offre={offer.id}").status_code in (302, 401)


def test_referents_export_lists_the_active_referents_of_the_filter(client, make_structure, make_user, animator):
    toulouse = make_structure(name="CH Toulouse")
    foix = make_structure(name="CH Foix", department_code="09")
    claire = _contact(toulouse)
    paul = _contact(foix, email="paul@example.org", first="Paul", last="Martin")
    silent = _contact(toulouse, email="discret@example.org", first="Luc", last="Discret")
    for consenting in (claire, paul):
        consenting.consent = True
    db.session.commit()
    ended = _contact(toulouse, email="ancienne@example.org", first="Anne", last="Ancienne")
    services.name_referent({"contact_id": claire.id, "offer_id": _offer().id}, user=animator)
    services.name_referent({"contact_id": paul.id, "offer_id": _offer().id}, user=make_user("admin"))
    gone = services.name_referent({"contact_id": ended.id, "offer_id": _offer("INS").id}, user=animator)
    services.end_referent(gone, user=animator)
    services.name_referent({"contact_id": silent.id, "offer_id": _offer().id}, user=animator)

    login(client, make_user("manager"))
    html = client.get("/reseaux/referents").get_data(as_text=True)
    assert "referents/export.csv" in html and "Référents en fonction (3)" in html
    assert services.count_referents(offer_id=_offer().id, department="09") == 1
    assert [r.contact_id for r in services.referents(limit=1)] == [paul.id]  # 09 before 31
    body = client.get(f"/reseaux/referents/export.csv?offre={_offer().id}").get_data(as_text=True)
    assert "referente@example.org" in body and "paul@example.org" in body and "ancienne@example.org" not in body
    assert "Discret" in body and "discret@example.org" not in body  # no consent: listed, no coordinates
    body = client.get(f"/reseaux/referents/export.csv?offre={_offer().id}&departement=09").get_data(as_text=True)
    assert "paul@example.org" in body and "referente@example.org" not in body
    response = client.get("/reseaux/referents/export.xlsx")
    assert response.status_code == 200 and response.data[:2] == b"PK"
    assert client.get("/reseaux/referents/export.json").status_code == 404
    assert client.get("/reseaux/referents/export.csv?offre=999999").status_code == 404


def test_links_import_lists_rejects_by_line_and_is_idempotent(make_structure, animator):
    dac_f, ehpad_f, a_f, b_f = F("31000001"), F("31000003"), F("09000001"), F("09000002")
    make_structure(name="DAC", finess_et=dac_f)
    ehpad = make_structure(name="EHPAD", finess_et=ehpad_f)
    make_structure(name="Ailleurs A", finess_et=a_f, department_code="09")
    make_structure(name="Ailleurs B", finess_et=b_f, department_code="09")
    data = (
        "structure_a;structure_b;type\n"
        f"{ehpad_f};{dac_f};partenaire_dac\n"
        f"{ehpad.id};{dac_f};Partenaire d'une CPTS\n"
        f"999999999;{dac_f};partenaire_dac\n"
        f"{ehpad_f};{dac_f};inconnu\n"
        "\n"
        f"{ehpad_f};{ehpad_f};membre_ght\n"
        f"{a_f};{b_f};membre_ght\n"
        f"{dac_f};{ehpad_f};partenaire_dac\n"
    ).encode()
    report = services.import_links(data, user=animator)
    assert (report.created, report.existing) == (2, 1)
    assert [n for n, _ in report.rejects] == [4, 5, 7, 8]
    assert "introuvable" in report.rejects[0][1] and "type de lien inconnu" in report.rejects[1][1]
    assert _count(StructureLink) == 2
    again = services.import_links(data, user=animator)
    assert (again.created, again.existing) == (0, 3) and _count(StructureLink) == 2
    assert _count(OutboxEvent, OutboxEvent.type == "structure_link.created") == 2
    with pytest.raises(services.ImportFailed):
        services.import_links(b"a;b\n1;2\n", user=animator)


def test_links_import_page_shows_rejects_and_refuses_managers(client, make_structure, make_user):
    dac_f, ehpad_f = F("31000001"), F("31000003")
    make_structure(name="DAC", finess_et=dac_f)
    make_structure(name="EHPAD", finess_et=ehpad_f)
    login(client, make_user("manager"))
    assert client.get("/reseaux/maillage").status_code == 200
    assert client.get("/reseaux/referents").status_code == 200
    import io

    line = f"{ehpad_f};{dac_f};partenaire_dac\n".encode()
    csv_file = (io.BytesIO(b"structure_a;structure_b;type\n" + line), "liens.csv")
    assert post(client, "/reseaux/liens/import", {"file": csv_file}).status_code == 403
    post(client, "/deconnexion")
    login(client, make_user("animateur", ["31"]))
    body = b"structure_a;structure_b;type\n" + line + b"x;y;z\n"
    response = post(client, "/reseaux/liens/import", {"file": (io.BytesIO(body), "liens.csv")})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Lignes rejetées" in html and "<td>3</td>" in html


def test_the_structure_page_shows_links_on_both_sides(client, make_structure, make_user, animator):
    dac, ehpad = make_structure(name="DAC Haute-Garonne"), make_structure(name="EHPAD Les Pins")
    services.add_link({"structure_a_id": ehpad.id, "structure_b_id": dac.id, "type_id": _type().id}, user=animator)
    login(client, make_user("manager"))
    assert "DAC Haute-Garonne" in client.get(f"/structures/{ehpad.id}").get_data(as_text=True)
    html = client.get(f"/structures/{dac.id}").get_data(as_text=True)
    assert "EHPAD Les Pins" in html and "Réseaux" in html


def test_reference_data_has_the_partner_categories_and_link_types():
    from crm.referential.models import Category

    codes = set(db.session.scalars(select(Category.code)))
    assert {"COLLECTIVITE", "REPRESENTANT_USAGERS"} <= codes
    assert _type("membre_ght") is not None


def test_referent_grappe_application_rows_cascade_cleanly(make_structure, animator):
    structure = make_structure()
    services.name_referent({"contact_id": _contact(structure).id, "offer_id": _offer().id}, user=animator)
    _grappe(structure, [], date(2026, 1, 1), animator)
    assert _count(Referent) == 1 and _count(Grappe) == 1 and _count(ProgrammeApplication) == 0


def test_the_manager_dashboard_shows_the_grappes_share(client, make_structure, make_user, animator):
    today = datetime.now(UTC).date()
    a, b = make_structure(name="ESMS A"), make_structure(name="ESMS B")
    _grappe(a, [], today - timedelta(days=5), animator, "Une")
    _grappe(b, [], today - timedelta(days=5), animator, "Deux")
    _attend(a, 30)
    login(client, make_user("manager"))
    html = client.get("/tableau-de-bord").get_data(as_text=True)
    assert "Grappes formées via un Rendez-vous ESMS numérique" in html
    assert "50\u00a0% (1 / 2)" in html


def test_the_yearly_pack_has_the_grappes_share(make_structure, animator):
    from crm.indicators.yearly.pack import build_pack

    today = datetime.now(UTC).date()
    a, b = make_structure(name="ESMS A"), make_structure(name="ESMS B")
    _grappe(a, [], today, animator, "Une")
    _grappe(b, [], today, animator, "Deux")
    _attend(a, 3)
    section = build_pack(today.year, None, with_charts=False).section("rapport")
    row = next(r for r in section.rows if r[0] == "Grappes formées via un Rendez-vous ESMS numérique")
    assert row[1:4] == [1, 2, 0.5]


def test_the_grappes_list_reads_every_grappe_in_a_fixed_number_of_statements(
    client, make_structure, make_user, animator
):
    from sqlalchemy import event as sa_event

    def grappe(i):
        lead, member = make_structure(name=f"Tête {i}"), make_structure(name=f"Membre {i}")
        services.save_grappe(
            None, {"name": f"Grappe {i}", "lead_structure_id": lead.id, "member_ids": [member.id]}, user=animator
        )

    def statements_for_the_page() -> int:
        statements = []

        def count(*args):
            statements.append(args[2])

        db.session.expire_all()
        sa_event.listen(db.engine, "before_cursor_execute", count)
        try:
            html = client.get("/reseaux/grappes").get_data(as_text=True)
        finally:
            sa_event.remove(db.engine, "before_cursor_execute", count)
        assert "Grappe 0" in html
        return len(statements)

    login(client, make_user("manager"))
    grappe(0)
    one = statements_for_the_page()
    for i in range(1, 6):
        grappe(i)
    assert statements_for_the_page() == one
    found = services.grappes()
    assert services.grappe_sizes(found) == {g.id: 2 for g in found} and len(found) == 6  # the lead is a member
