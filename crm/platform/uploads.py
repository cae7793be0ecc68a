"""Reading uploaded files within bounds: what a file unpacks to, not only its size.

A 104 KB XLSX whose shared strings unpack to 100 MB took a web worker from 139 MB to 1.7 GB
(openpyxl keeps every shared string in memory, even in read-only mode); a CSV header of 200,000
columns produced a 56 MB error page. Every upload read by the app goes through here, and each
refusal is an :class:`UploadRefused` with a French message.

Bounding the zip's *declared* sizes is enough: :mod:`zipfile` never inflates a member past the
size its directory declares (it stops there and reports a CRC error), so a member that lies
about its size cannot unpack to more than it declares.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import datetime

from flask import Request, current_app
from flask_login import current_user
from openpyxl import load_workbook

MAX_XLSX_UNPACKED_BYTES = 40 * 1024 * 1024
MAX_XLSX_MEMBERS = 200
MAX_COLUMNS = 300
MAX_CELL_CHARS = 5_000


class UploadRefused(ValueError):
    """The file is beyond what we read: ``message`` says why, in French."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} Mo"


def check_xlsx_archive(data: bytes, *, max_unpacked: int = MAX_XLSX_UNPACKED_BYTES) -> None:
    """Refuse a workbook whose members declare more than ``max_unpacked`` bytes once unpacked."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise UploadRefused("Ce classeur Excel est illisible (archive endommagée).") from None
    if len(members) > MAX_XLSX_MEMBERS:
        raise UploadRefused(
            f"Ce classeur Excel contient trop d'éléments ({len(members)}) : ce n'est pas un export d'outil."
        )
    unpacked = sum(member.file_size for member in members)
    if unpacked > max_unpacked:
        raise UploadRefused(
            f"Ce classeur Excel se décompresse en plus de {_mb(max_unpacked)} ({_mb(unpacked)}) : il est refusé."
        )


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def xlsx_rows(
    data: bytes, *, max_rows: int, max_columns: int = MAX_COLUMNS, max_cell_chars: int = MAX_CELL_CHARS
) -> Iterator[list[str]]:
    """The first sheet's rows as text, streamed (openpyxl read-only mode), within every bound.

    The archive is checked before openpyxl opens it; rows past ``max_rows`` are not read and
    columns past ``max_columns`` are dropped; a longer cell is refused. A damaged workbook raises
    :class:`UploadRefused` too.
    """
    check_xlsx_archive(data)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001  (a damaged or foreign zip: openpyxl raises many kinds of errors
        raise UploadRefused("Ce classeur Excel est illisible.") from None
    try:
        sheet = workbook.worksheets[0]
        for number, row in enumerate(sheet.iter_rows(max_col=max_columns, values_only=True), start=1):
            if number > max_rows:
                break
            cells = [_cell_text(value) for value in row]
            check_cells(cells, number, max_cell_chars=max_cell_chars)
            yield cells
    except UploadRefused:
        raise
    except Exception:  # noqa: BLE001  (a broken sheet part shows up only while iterating)
        raise UploadRefused("Ce classeur Excel est illisible.") from None
    finally:
        workbook.close()


def check_cells(
    cells: list[str], line: int, *, max_columns: int = MAX_COLUMNS, max_cell_chars: int = MAX_CELL_CHARS
) -> None:
    """Refuse a table line (CSV or XLSX) wider than ``max_columns`` or with a cell longer than ``max_cell_chars``."""
    if len(cells) > max_columns:
        raise UploadRefused(
            f"La ligne {line} compte {len(cells):,} colonnes (au plus {max_columns}) : "
            "ce n'est pas un rapport exporté d'un outil.".replace(",", "\u202f")
        )
    for cell in cells:
        if len(cell) > max_cell_chars:
            raise UploadRefused(
                f"La ligne {line} contient une cellule de plus de "
                f"{max_cell_chars:,} caractères : le fichier est refusé.".replace(",", "\u202f")
            )


def accepts_upload(limit: int | str, *roles: str):
    """Route decorator (just under ``@bp.route``): this view reads a request body up to ``limit``
    bytes (or the config key holding it), for a logged-in user of ``roles``; every other request
    keeps the small ``MAX_CONTENT_LENGTH``. The limit is decided before anything reads the body
    (the CSRF check reads the form first), see :class:`BoundedRequest`."""

    def decorator(view):
        view.upload_limit = (limit, roles)
        return view

    return decorator


class BoundedRequest(Request):
    """A request whose body limit is the view's :func:`accepts_upload` one, or the global one.

    An anonymous client posting 190 MB to the public registration page was read in full (the
    limit was the FINESS file's); now only the routes that take a file allow more, and only to
    the roles that may use them.
    """

    @property
    def max_content_length(self) -> int | None:
        if self._max_content_length is None and current_app and self.url_rule is not None:
            declared = getattr(current_app.view_functions.get(self.url_rule.endpoint), "upload_limit", None)
            if declared is not None:
                limit, roles = declared
                if current_user.is_authenticated and current_user.role in roles:
                    self._max_content_length = current_app.config[limit] if isinstance(limit, str) else limit
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value
