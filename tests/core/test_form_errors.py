"""A form in error is announced: a summary at the top linking to each field, and each field in error
marked invalid and described by its error and its help."""

import re
from html import unescape

from tests.conftest import post
from tests.events.conftest import event_type, organiser  # noqa: F401  (fixtures)


def test_fields_in_error_point_to_their_message_and_help_and_the_summary_links_to_them(client, login_as):
    login_as("organisateur")
    response = post(client, "/evenements/nouveau", {"title": "", "starts_at": "pas une date", "ends_at": ""})
    assert response.status_code in (200, 400, 422)
    html = unescape(response.get_data(as_text=True))
    summary = re.search(r'<div class="error-summary" role="alert"[^>]*>(.*?)</div>', html, re.S)
    assert summary, "the summary of errors is missing"
    assert 'href="#title"' in summary.group(1) and 'href="#starts_at"' in summary.group(1)
    assert html.index("error-summary") < html.index('id="title"')
    title = re.search(r'<input[^>]*id="title"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in title and 'aria-describedby="title-err"' in title
    assert 'id="title-err"' in html
    starts = re.search(r'<input[^>]*id="starts_at"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in starts and 'aria-describedby="starts_at-err starts_at-help"' in starts
    assert 'id="starts_at-help"' in html and 'id="starts_at-err"' in html
    # A field without error is neither invalid nor pointing to an error.
    capacity = re.search(r'<input[^>]*id="capacity"[^>]*>', html).group(0)
    assert "aria-invalid" not in capacity and "aria-describedby" not in capacity


def test_a_form_without_error_has_no_summary(client, login_as):
    login_as("organisateur")
    html = client.get("/evenements/nouveau").get_data(as_text=True)
    assert "error-summary" not in html
    # Programmes and offers are native multiple selects, enhanced by the script.
    assert re.search(r'<select[^>]*data-multiselect[^>]*name="programme_ids"', html)
    assert re.search(r'<select[^>]*data-multiselect[^>]*name="offer_ids"', html)


def test_the_activity_form_summary_links_to_the_structure_search(client, login_as):
    login_as("animateur")
    response = post(client, "/activites/nouvelle", {"kind": "visite", "occurred_on": "2026-12-01"})
    html = unescape(response.get_data(as_text=True))
    assert 'class="error-summary" role="alert"' in html
    assert 'href="#structure-search"' in html
    assert re.search(r'<select[^>]*name="programme_ids"[^>]*multiple data-multiselect', html)
    assert re.search(r'<select[^>]*name="offer_ids"[^>]*multiple data-multiselect', html)
