"""Reading the attendance reports of Teams, Zoom and Livestorm (pure functions, real sample files)."""

import io
import random
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook

from crm.events.followup.attendance_import import AttendanceFileError, read_attendance_report

FIXTURES = Path(__file__).parent / "fixtures"
PARIS = ZoneInfo("Europe/Paris")


def report(name, **kwargs):
    return read_attendance_report((FIXTURES / name).read_bytes(), **kwargs)


def by_email(result):
    return {row.email: row for row in result.rows}


def test_teams_french_utf16_with_summary_block_reads_only_the_participants_table():
    result = report("teams_fr.csv")
    assert (result.tool, result.encoding, result.delimiter) == ("teams", "UTF-16", "\t")
    rows = by_email(result)
    # The activity log below the table (Hélène twice) is not read as more participants.
    assert sorted(rows) == [
        "camille.ferrand@esante-occitanie.fr",
        "fdoeuvre@ssiad-comminges.fr",
        "helene.meric@ehpad-les-tilleuls.fr",
        "j.benazet@ch-saint-gaudens.fr",
    ]
    helene = rows["helene.meric@ehpad-les-tilleuls.fr"]
    assert helene.duration_minutes == 62
    assert helene.joined_at == datetime(2024, 3, 14, 10, 0, 3, tzinfo=PARIS)
    assert rows["j.benazet@ch-saint-gaudens.fr"].person_name() == ("Jérôme", "Bénazet")
    assert rows["fdoeuvre@ssiad-comminges.fr"].person_name() == ("Françoise", "Dœuvre")
    assert result.warnings == ["1 ligne(s) sans adresse e-mail ignorée(s) (invités non identifiés)."]


def test_teams_english_us_dates_and_directory_names():
    rows = by_email(report("teams_en.csv"))
    marie = rows["marie.dupont@chu-toulouse.fr"]
    assert marie.person_name() == ("Marie", "Dupont")
    assert marie.joined_at == datetime(2024, 3, 14, 9, 59, 1, tzinfo=PARIS)
    assert marie.duration_minutes == 67
    assert rows["zoe.garcia@mas-tarn.fr"].duration_minutes == 60
    assert rows["loic.saintange@clinique-pyrenees.fr"].person_name() == ("Loïc", "Saint-Ange")


def test_zoom_french_skips_the_meeting_line_and_merges_reconnections():
    result = report("zoom_fr.csv")
    assert (result.tool, result.encoding, result.delimiter) == ("zoom", "UTF-8", ",")
    assert result.mapped_columns["email"] == "E-mail de l'utilisateur"
    rows = by_email(result)
    anais = rows["anais.vidal@ime-les-cedres.fr"]
    assert anais.duration_minutes == 88  # 40 + 48: she left and came back
    assert anais.joined_at == datetime(2024, 5, 21, 14, 0, 12, tzinfo=PARIS)
    assert anais.person_name() == ("Anaïs", "Vidal")
    assert len(rows) == 3
    assert any("Ligne 9" in w and "n'est pas une adresse e-mail" in w for w in result.warnings)


def test_zoom_english_headers_and_email_case():
    result = report("zoom_en.csv")
    assert result.tool == "zoom"
    rows = by_email(result)
    assert set(rows) == {"marc.lefevre@ch-albi.fr", "sophie.durand@ehpad-montauban.fr"}
    assert rows["marc.lefevre@ch-albi.fr"].joined_at == datetime(2024, 3, 14, 9, 58, 12, tzinfo=PARIS)


def test_livestorm_attended_column_and_split_names():
    result = report("livestorm.csv")
    assert result.tool == "livestorm"
    rows = by_email(result)
    assert rows["lucie.bonnet@cpts-toulouse-nord.fr"].attended is True
    assert rows["lucie.bonnet@cpts-toulouse-nord.fr"].duration_minutes == 55
    assert rows["remi.esteve@msp-foix.fr"].attended is False
    assert rows["remi.esteve@msp-foix.fr"].person_name() == ("Rémi", "Estève")
    assert result.warnings == ["Ligne 5 : « @@@ » n'est pas une adresse e-mail, ligne ignorée."]


def test_excel_semicolon_windows_1252_file():
    result = report("excel_cp1252.csv")
    assert (result.encoding, result.delimiter, result.tool) == ("CP1252", ";", "autre")
    rows = by_email(result)
    assert rows["eloise.benezech@ch-rodez.fr"].person_name() == ("Éloïse", "Bénézech")
    assert rows["benoit.cazeneuve@ehpad-gers.fr"].attended is False


def test_manual_mapping_overrides_the_tool_headers():
    data = b"Participant;Courriel pro;Minutes\nJean Roux;jean.roux@ch-auch.fr;42\n"
    with pytest.raises(AttendanceFileError) as error:
        read_attendance_report(data)
    assert "Aucune colonne d'adresse e-mail" in error.value.message
    assert error.value.columns == ["Participant", "Courriel pro", "Minutes"]
    result = read_attendance_report(data, mapping={"email": "Courriel pro", "duration": "Minutes"})
    assert result.rows[0].email == "jean.roux@ch-auch.fr"
    assert result.rows[0].duration_minutes == 42
    assert result.rows[0].person_name() == ("Jean", "Roux")
    with pytest.raises(AttendanceFileError, match="colonnes choisies"):
        read_attendance_report(data, mapping={"email": "Colonne absente"})


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "vide"),
        (b"\xef\xbb\xbf\r\n\r\n", "vide"),
        (b"PK\x03\x04" + b"\x00" * 200, "classeur Excel est illisible"),
        (b"%PDF-1.7\n" + bytes(range(256)) * 4, "PDF"),
        (random.Random(4).randbytes(5000), "pas un fichier texte CSV"),
        ("Nom;Prénom;Structure\nMartin;Paul;EHPAD\n".encode(), "Aucune colonne d'adresse e-mail"),
        (b"Email,Name\n,Jean\n", "Aucun participant"),
        (b"juste une phrase sans separateur", "Aucune colonne d'adresse e-mail"),
    ],
)
def test_bad_files_give_a_french_error(data, message):
    with pytest.raises(AttendanceFileError) as error:
        read_attendance_report(data)
    assert message in error.value.message


def test_too_large_and_unknown_tool():
    with pytest.raises(AttendanceFileError, match="trop volumineux"):
        read_attendance_report(b"Email,Name\n" + b"a@b.fr,A\n" * 200, max_bytes=1000)
    with pytest.raises(AttendanceFileError, match="Outil inconnu"):
        read_attendance_report(b"Email,Name\na@b.fr,A\n", tool="webex")


def test_unreadable_values_are_warnings_not_errors():
    data = (
        "Email;Nom;Durée (minutes);Heure d'arrivée;Attended\n"
        "a@ch-albi.fr;Anne Roc;beaucoup;hier;peut-être\n"
        "b@ch-albi.fr;Bea Roc;1:05:00;2024-03-14T09:00:00Z;oui\n"
    ).encode()
    result = read_attendance_report(data)
    rows = by_email(result)
    assert rows["a@ch-albi.fr"].duration_minutes is None and rows["a@ch-albi.fr"].joined_at is None
    assert rows["a@ch-albi.fr"].attended is True
    assert rows["b@ch-albi.fr"].duration_minutes == 65
    assert rows["b@ch-albi.fr"].joined_at == datetime(2024, 3, 14, 10, 0, tzinfo=PARIS)
    assert len(result.warnings) == 3 and all(w.startswith("Ligne 2 : ") for w in result.warnings)


def test_random_mutations_of_real_reports_never_raise_anything_else():
    rng = random.Random(20240314)
    samples = [p.read_bytes() for p in FIXTURES.glob("*.csv")]
    for _ in range(300):
        data = bytearray(rng.choice(samples))
        for _ in range(rng.randrange(1, 12)):
            position = rng.randrange(len(data))
            data[position : position + rng.randrange(1, 4)] = bytes(
                rng.randrange(256) for _ in range(rng.randrange(0, 4))
            )
        try:
            result = read_attendance_report(bytes(data))
        except AttendanceFileError as error:
            assert error.message
        else:
            assert all("@" in row.email for row in result.rows)


def test_livestorm_excel_workbook():
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Email", "First name", "Last name", "Attended", "Attendance duration", "Connection time"])
    sheet.append(["agnes.lacaze@dac31.fr", "Agnès", "Lacaze", "Yes", 45, datetime(2024, 9, 19, 10, 12, 40)])
    sheet.append(["remi.esteve@msp-foix.fr", "Rémi", "Estève", "No", None, None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    result = read_attendance_report(buffer.getvalue())
    assert (result.encoding, result.tool) == ("XLSX", "livestorm")
    rows = by_email(result)
    agnes = rows["agnes.lacaze@dac31.fr"]
    assert (agnes.person_name(), agnes.duration_minutes, agnes.attended) == (("Agnès", "Lacaze"), 45, True)
    assert agnes.joined_at == datetime(2024, 9, 19, 10, 12, 40, tzinfo=PARIS)
    assert rows["remi.esteve@msp-foix.fr"].attended is False
