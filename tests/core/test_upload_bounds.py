"""Uploads are bounded by what they unpack to, request bodies by the route that reads them."""

import io
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from crm.platform.uploads import MAX_XLSX_UNPACKED_BYTES, UploadRefused, check_xlsx_archive, xlsx_rows
from tests.conftest import csrf_token
from tests.events.factories import make_event

ROOT = Path(__file__).resolve().parents[2]


def small_workbook() -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["Email", "First name", "Last name", "Attended"])
    sheet.append(["anne@ehpad.fr", "Anne", "Martin", "Yes"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


SST = b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
SHEET = (
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    b'<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
    b'<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2" t="s"><v>3</v></c></row></sheetData></worksheet>'
)
SST_TYPE = (
    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
)


def shared_strings_bomb(unpacked_mb: int = 100) -> bytes:
    """A real workbook whose cells are shared strings, the last of which unpacks to ``unpacked_mb`` MB:
    openpyxl loads every shared string when it opens a workbook, read-only mode included."""
    source = zipfile.ZipFile(io.BytesIO(small_workbook()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bomb:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "[Content_Types].xml":
                content = content.replace(b"</Types>", SST_TYPE)
            elif item.filename == "xl/worksheets/sheet1.xml":
                content = SHEET
            bomb.writestr(item, content)
        with bomb.open("xl/sharedStrings.xml", "w") as member:  # streamed: the test never holds 100 MB
            member.write(
                SST + b"<si><t>Email</t></si><si><t>Nom</t></si><si><t>anne@ehpad.fr</t></si>"
                b"<si><t>Anne Martin</t></si><si><t>"
            )
            chunk = b"A" * (1024 * 1024)
            for _ in range(unpacked_mb):
                member.write(chunk)
            member.write(b"</t></si></sst>")
    return out.getvalue()


def test_the_workbook_is_read_through_its_shared_strings():
    """The bomb's shape is a real one: the same workbook with a small last string is read."""
    rows = list(xlsx_rows(shared_strings_bomb(unpacked_mb=0), max_rows=10))
    assert [row[:2] for row in rows] == [["Email", "Nom"], ["anne@ehpad.fr", "Anne Martin"]]


def test_bomb_is_small_but_declares_what_it_unpacks_to():
    data = shared_strings_bomb()
    assert len(data) < 300 * 1024
    declared = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist())
    assert declared > 100 * 1024 * 1024
    with pytest.raises(UploadRefused, match="se décompresse en plus de"):
        check_xlsx_archive(data)


MEASURE = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
from crm.events.followup.attendance_import import AttendanceFileError, read_attendance_report
data = open({path!r}, "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.monotonic()
try:
    read_attendance_report(data)
    message = None
except AttendanceFileError as error:
    message = error.message
print(json.dumps({{"message": message, "seconds": time.monotonic() - start,
                  "grew_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before}}))
"""


def test_zip_bomb_xlsx_is_refused_quickly_in_bounded_memory(tmp_path):
    """Measured in a fresh process: its peak memory (ru_maxrss) barely moves while the bomb is refused.
    Before, openpyxl inflated the 100 MB of shared strings: 1.7 GB and 30 s in a web worker."""
    path = tmp_path / "rapport.xlsx"
    path.write_bytes(shared_strings_bomb())
    script = MEASURE.format(root=str(ROOT), path=str(path))
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["message"] and "se décompresse en plus de" in result["message"], result
    assert result["seconds"] < 2, result
    assert result["grew_kb"] < 30 * 1024, result


def test_limits_on_rows_columns_and_cell_length():
    book = Workbook()
    sheet = book.active
    for n in range(50):
        sheet.append([f"r{n}c{c}" for c in range(400)])
    buffer = io.BytesIO()
    book.save(buffer)
    rows = list(xlsx_rows(buffer.getvalue(), max_rows=10, max_columns=5))
    assert len(rows) == 10 and all(len(r) == 5 for r in rows)
    book = Workbook()
    book.active.append(["Email", "x" * 6000])
    buffer = io.BytesIO()
    book.save(buffer)
    with pytest.raises(UploadRefused, match="cellule de plus de 5"):
        list(xlsx_rows(buffer.getvalue(), max_rows=10))
    assert MAX_XLSX_UNPACKED_BYTES < 100 * 1024 * 1024


def upload(client, event, name, data):
    form = {"csrf_token": csrf_token(client), "tool": "auto", "action": "preview", "report": (io.BytesIO(data), name)}
    return client.post(f"/evenements/{event.id}/presences/import", data=form, content_type="multipart/form-data")


def test_bomb_uploaded_to_the_attendance_page_gets_a_french_422(client, login_as):
    login_as("organisateur")
    event = make_event()
    start = time.monotonic()
    response = upload(client, event, "rapport.xlsx", shared_strings_bomb())
    assert time.monotonic() - start < 3
    assert response.status_code == 422
    assert "se décompresse en plus de" in response.get_data(as_text=True)


def test_csv_header_of_200000_columns_is_refused_with_a_short_page(client, login_as):
    login_as("organisateur")
    event = make_event()
    header = ";".join(f"col{n}" for n in range(200_000))
    data = (header + "\nanne@ehpad.fr" + ";x" * 10 + "\n").encode()
    response = upload(client, event, "rapport.csv", data)
    assert response.status_code == 422
    assert len(response.get_data()) < 100_000  # was a 56 MB page listing every column
    assert "colonnes (au plus 300)" in response.get_data(as_text=True)


BIG = b"x" * (3 * 1024 * 1024)


def test_anonymous_and_api_bodies_are_small(client):
    """An anonymous 3 MB POST is refused before being read (it was read in full up to 200 MB)."""
    event = make_event()
    for path in (f"/e/{event.slug}", "/connexion", "/admin/imports"):
        response = client.post(
            path, data={"csrf_token": "t", "file": (io.BytesIO(BIG), "a.csv")}, content_type="multipart/form-data"
        )
        assert response.status_code == 413, path
        assert "trop volumineux" in response.get_data(as_text=True)
    response = client.post("/api/v1/structures", data=BIG, content_type="application/json")
    assert response.status_code == 413 and response.get_json()["error"]["status"] == 413


def test_the_large_import_limit_is_the_admins_alone(client, login_as):
    login_as("animateur", departments=["31"])
    response = client.post(
        "/admin/imports",
        data={"csrf_token": csrf_token(client), "file": (io.BytesIO(BIG), "f.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413


def test_admin_uploads_a_finess_file_beyond_the_small_limit(client, login_as):
    login_as("admin")
    data = b"finess;etalab;100;2026-11-30\n" + BIG
    response = client.post(
        "/admin/imports",
        data={"csrf_token": csrf_token(client), "file": (io.BytesIO(data), "f.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302  # stored and queued (the job reads the content)


def test_organiser_uploads_a_4_mb_attendance_report(client, login_as):
    login_as("organisateur")
    event = make_event()
    report = b"Email;Nom\n" + b"".join(b"p%d@ehpad.fr;Nom %d\n" % (n, n) for n in range(19_000))
    report += b"\n" + b"#" * (4 * 1024 * 1024 - len(report))
    response = upload(client, event, "rapport.csv", report)
    assert response.status_code == 200, response.status_code


def test_a_member_lying_about_its_size_is_cut_at_what_it_declares(tmp_path):
    """The bomb's directory rewritten to declare 1 KB: the declared bound still holds, zipfile stops
    inflating there (CRC error), and the reader answers "illisible" without growing."""
    data = bytearray(shared_strings_bomb())
    member = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("xl/sharedStrings.xml")
    lie = (1024).to_bytes(4, "little")
    assert data[member.header_offset : member.header_offset + 4] == b"PK\x03\x04"
    data[member.header_offset + 22 : member.header_offset + 26] = lie  # local header
    end = data.rfind(b"PK\x05\x06")
    central = int.from_bytes(data[end + 16 : end + 20], "little")  # walk the central directory's records
    while True:
        lengths = [int.from_bytes(data[central + at : central + at + 2], "little") for at in (28, 30, 32)]
        if data[central + 46 : central + 46 + lengths[0]] == b"xl/sharedStrings.xml":
            break
        central += 46 + sum(lengths)
    data[central + 24 : central + 28] = lie
    declared = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(bytes(data))).infolist())
    assert declared < MAX_XLSX_UNPACKED_BYTES
    path = tmp_path / "menteur.xlsx"
    path.write_bytes(bytes(data))
    completed = subprocess.run(
        [sys.executable, "-c", MEASURE.format(root=str(ROOT), path=str(path))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["message"] and "illisible" in result["message"], result
    assert result["seconds"] < 2 and result["grew_kb"] < 30 * 1024, result
