"""FINESS and SIRET check keys (Luhn)."""

import pytest

from crm.structures.identifiers import clean_identifier, finess_error, luhn_check_digit, luhn_valid, siret_error


@pytest.mark.parametrize(
    "number,valid",
    [
        ("79927398713", True),  # the textbook Luhn example
        ("79927398710", False),
        ("0", True),
        ("18", True),
        ("10", False),
        ("4539578763621486", True),
        ("4539578763621487", False),
        ("12a4", False),
        ("", False),
    ],
)
def test_luhn_reference_vectors(number, valid):
    assert luhn_valid(number) is valid


def test_check_digit_makes_a_valid_number():
    for partial in ("31000001", "34123456", "97100012"):
        assert luhn_valid(partial + luhn_check_digit(partial))


def test_finess_valid_and_invalid_keys():
    valid = "31000001" + luhn_check_digit("31000001")
    assert finess_error(valid) is None
    wrong_key = valid[:-1] + str((int(valid[-1]) + 1) % 10)
    assert "clé de contrôle" in finess_error(wrong_key)
    assert "9 caractères" in finess_error("3100000")
    assert "9 caractères" in finess_error("ABC000001")


def test_finess_corsica_reads_2a_2b_as_20():
    body = "0000123"
    number_2a = "2A" + body[:6] + luhn_check_digit("20" + body[:6])
    number_2b = "2B" + body[:6] + luhn_check_digit("20" + body[:6])
    assert finess_error(number_2a) is None and finess_error(number_2b) is None
    bad = number_2a[:-1] + str((int(number_2a[-1]) + 3) % 10)
    assert finess_error(bad) is not None


def test_siret():
    siren = "44306184"
    partial = siren + "1" + "0004"
    valid = partial + luhn_check_digit(partial)
    assert siret_error(valid) is None
    assert "clé" in siret_error(valid[:-1] + str((int(valid[-1]) + 1) % 10))
    assert "14 chiffres" in siret_error("1234")
    assert siret_error("35600000000048") is None  # La Poste: sum of digits multiple of 5


def test_clean_identifier_removes_separators():
    assert clean_identifier(" 31 000 001-8 ") == "310000018"
    assert clean_identifier("2a.0001234") == "2A0001234"
