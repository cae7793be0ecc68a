"""The yearly pack as an A4 PDF report, drawn by fpdf2 (pure Python: no system library to install).

Accessible as a tagged PDF: the document's title and language are set, headings are /H1 and /H2, each
table a /Table of /TR rows with /TH header cells (scope: column) and /TD cells, each chart a /Figure with
its alternative text, notes /P; page numbers and a header repeated after a page break are artifacts.
fpdf2 tags only figures and links itself, so the structure elements are built here (``_tag``).

The charts are the dashboard's SVG (crm.indicators.charts), drawn by fpdf2's SVG renderer. The PDF's
built-in Helvetica covers Latin-1 only: text goes through ``latin1`` (en dash to hyphen...).
"""

from __future__ import annotations

import io
import logging
import re
from contextlib import contextmanager

from fpdf import FPDF
from fpdf.enums import MethodReturnValue
from fpdf.prefs import ViewerPreferences
from fpdf.structure_tree import StructElem, StructureTreeBuilder

from crm.indicators.yearly.pack import Column, Pack, Section, display
from crm.platform.dates import local_today

# fpdf2 logs each SVG element it does not draw (<title>, <desc>: read from the figure's alternative text).
logging.getLogger("fpdf.svg").setLevel(logging.ERROR)

MARGIN = 14
LINE = 4.0  # mm per line of table text
FONT = "Helvetica"
HALO = re.compile(r' stroke="[^"]*"(?= class="map-label")')
REPLACEMENTS = {
    "–": "-",
    "—": "-",
    "’": "'",
    "‘": "'",
    "…": "...",
    "\u202f": " ",
    "œ": "oe",
    "Œ": "OE",
    "€": "EUR",
    "−": "-",
    "≥": ">=",
    "≤": "<=",
}


def latin1(text) -> str:
    text = str(text)
    for char, replacement in REPLACEMENTS.items():
        text = text.replace(char, replacement)
    return text.encode("latin-1", "replace").decode("latin-1")


class _ScopedElem(StructElem):
    """A structure element with attributes (/A), e.g. a header cell's scope."""

    __slots__ = ("a",)

    def __init__(self, *args, attributes: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.a = attributes


class _Tree(StructureTreeBuilder):
    """fpdf2's tree writes the document's direct children only: this one writes every level, and gives each
    element with content its page (fpdf2 does it for the direct children only)."""

    def __init__(self, pdf: FPDF):
        super().__init__()
        self.pdf = pdf

    def _descendants(self, element):
        for kid in element.k:
            if isinstance(kid, StructElem):
                yield kid
                yield from self._descendants(kid)

    def __iter__(self):
        yield self.struct_tree_root
        yield self.doc_struct_elem
        yield self.struct_tree_root.parent_tree
        for element in self._descendants(self.doc_struct_elem):
            if element.page_number() is not None and element.pg is None:
                element.pg = self.pdf.pages[element.page_number()]
            yield element


class ReportPDF(FPDF):
    def __init__(self, pack: Pack):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.pack = pack
        self.struct_builder = _Tree(self)
        self._mcids: dict[int, int] = {}
        self._repeat_header = None
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(True, margin=MARGIN + 6)
        self.set_title(latin1(pack.title))
        self.set_lang("fr-FR")
        self.set_author(latin1(pack.organisation))
        self.set_subject(latin1(f"{pack.title} : indicateurs CPOM, rapport d'activité, événements, opportunités"))
        self.set_creator("Maillage")
        self.viewer_preferences = ViewerPreferences(display_doc_title=True)
        self.alias_nb_pages()

    # --- tagging ---------------------------------------------------------------------------------------

    def element(self, struct_type: str, parent: StructElem | None = None, **kwargs) -> StructElem:
        """A structure element without content of its own (a /Table, a /TR), under ``parent``."""
        parent = parent or self.struct_builder.doc_struct_elem
        elem = _ScopedElem(struct_type=f"/{struct_type}", parent=parent, kids=[], page_number=self.page, **kwargs)
        parent.k.append(elem)
        return elem

    @contextmanager
    def _tag(self, struct_type: str, parent: StructElem | None = None, *, alt=None, attributes=None):
        """Marked content for what is drawn inside, as one structure element (no page break inside)."""
        page = self.page
        mcid = self._mcids.get(page, 0)
        self._mcids[page] = mcid + 1
        parent = parent or self.struct_builder.doc_struct_elem
        builder = self.struct_builder
        spid = builder.spid_per_page_number.setdefault(page, len(builder.spid_per_page_number))
        elem = _ScopedElem(
            struct_type=f"/{struct_type}",
            parent=parent,
            kids=[mcid],
            page_number=page,
            alt=None if alt is None else latin1(alt),
            attributes=attributes,
        )
        parent.k.append(elem)
        builder.struct_tree_root.parent_tree.nums[spid].append(elem)
        self.pages[page].struct_parents = spid
        self._set_min_pdf_version("1.4")
        self._out(f"/{struct_type} <</MCID {mcid}>> BDC")
        yield elem
        self._out("EMC")

    @contextmanager
    def artifact(self):
        self._out("/Artifact BMC")
        yield
        self._out("EMC")

    # --- page furniture --------------------------------------------------------------------------------

    def footer(self):
        with self.artifact():
            self.set_y(-MARGIN - 2)
            self.set_font(FONT, size=8)
            self.set_text_color(80, 80, 80)
            self.cell(0, 5, latin1(f"{self.pack.organisation} - {self.pack.title}"), align="L")
            self.set_x(MARGIN)
            self.cell(0, 5, f"Page {self.page_no()} / {{nb}}", align="R")
            self.set_text_color(0, 0, 0)

    def header(self):
        if self._repeat_header is not None:  # a table continued on this page: its header again
            with self.artifact():
                self._repeat_header()

    # --- content ---------------------------------------------------------------------------------------

    def heading(self, text: str, level: int) -> None:
        size = {1: 18, 2: 13}[level]
        if self.will_page_break(size * 0.6 + 20):
            self.add_page()
        self.set_font(FONT, "B", size)
        self.start_section(latin1(text), level=0)  # the outline (bookmarks): one entry per heading
        with self._tag(f"H{level}"):
            self.multi_cell(0, size * 0.5, latin1(text), new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def paragraph(self, text: str, *, size: float = 9, style: str = "") -> None:
        self.set_font(FONT, style, size)
        for block in [b for b in str(text).split("\n") if b.strip()] or [""]:
            lines = self.multi_cell(0, size * 0.45, latin1(block), dry_run=True, output=MethodReturnValue.LINES)
            while lines:  # each page's part of the paragraph is its own /P (marked content cannot span pages)
                room = max(1, int((self.page_break_trigger - self.y) // (size * 0.45)))
                chunk, lines = lines[:room], lines[room:]
                with self._tag("P"):
                    self.multi_cell(0, size * 0.45, "\n".join(chunk), new_x="LMARGIN", new_y="NEXT")
                if lines:
                    self.add_page()
        self.ln(1)

    def figure(self, caption: str, svg) -> None:
        width = self.epw * 0.8
        box = re.search(r'viewBox="[-\d.]+ [-\d.]+ ([\d.]+) ([\d.]+)"', str(svg))
        height = width * float(box.group(2)) / float(box.group(1)) if box else width
        if self.will_page_break(height + 8):
            self.add_page()
        # The map's labels have a halo drawn under the text (paint-order="stroke"), which fpdf2 draws over
        # it instead: without the halo the labels stay readable.
        drawing = HALO.sub(' stroke="none"', latin1(str(svg)))
        with self._tag("Figure", alt=caption):
            self.image(io.BytesIO(drawing.encode()), x=MARGIN + self.epw * 0.1, w=width)
        self.set_font(FONT, "I", 8)
        with self._tag("Caption"):
            self.cell(0, 5, latin1(caption), align="C", new_x="LMARGIN", new_y="NEXT")
        self.ln(3)

    def table(self, columns: list[Column], rows: list[list], caption: str) -> None:
        widths = _widths(self, columns, rows)
        table = self.element("Table")
        self.set_font(FONT, "", 7.5)

        def draw_header(parent=None):
            self.set_font(FONT, "B", 7.5)
            self.set_fill_color(220, 230, 240)
            self._row([c.label for c in columns], widths, ["text"] * len(columns), parent, header=True)
            self.set_font(FONT, "", 7.5)

        if self.will_page_break(LINE * 6):
            self.add_page()
        draw_header(self.element("TR", table))
        self._repeat_header = draw_header
        for values in rows:
            texts = [display(value, column.kind) for value, column in zip(values, columns)]
            kinds = [column.kind for column in columns]
            self._row(texts, widths, kinds, self.element("TR", table))
        self._repeat_header = None
        self.ln(3)

    def _wrap(self, text: str, width: float) -> list[str]:
        """The lines of a cell; most fit on one, measured without fpdf2's (slow) dry-run layout."""
        text = latin1(text)
        if self.get_string_width(text) <= width - 2.5:
            return [text]
        return self.multi_cell(width, LINE, text, dry_run=True, output=MethodReturnValue.LINES, padding=(0, 1))

    def _row(self, texts: list[str], widths: list[float], kinds: list[str], parent, header: bool = False) -> None:
        wrapped = [self._wrap(t, w) for t, w in zip(texts, widths)]
        height = max(len(lines) for lines in wrapped) * LINE + 1
        if self.will_page_break(height):
            self.add_page()  # header() redraws the table's header
        y, x = self.y, self.l_margin
        with self.artifact():
            for w in widths:
                self.rect(x, y, w, height, style="DF" if header else "D")
                x += w
        x = self.l_margin
        for lines, w, kind in zip(wrapped, widths, kinds):
            align = "L" if kind == "text" or header else "R"
            self.set_xy(x, y + 0.5)
            if parent is None:  # the header repeated on a new page: an artifact (see header())
                self._cell_text(lines, w, align)
            else:
                scope = "<</O /Table /Scope /Column>>" if header else None
                with self._tag("TH" if header else "TD", parent, attributes=scope):
                    self._cell_text(lines, w, align)
            x += w
        self.set_xy(self.l_margin, y + height)

    def _cell_text(self, lines: list[str], width: float, align: str) -> None:
        x = self.x
        for line in lines:
            self.set_x(x)
            self.cell(width, LINE, line, align=align, new_x="LEFT", new_y="NEXT")  # c_margin pads it


def _widths(pdf: FPDF, columns: list[Column], rows: list[list]) -> list[float]:
    """Numbers as wide as their longest header word or value (so that no word is cut), text the rest."""
    widths = []
    for index, column in enumerate(columns):
        if column.kind == "text":
            widths.append(None)
            continue
        pdf.set_font(FONT, "B", 7.5)
        longest = max(pdf.get_string_width(latin1(word)) for word in column.label.split())
        pdf.set_font(FONT, "", 7.5)
        for values in rows:
            longest = max(longest, pdf.get_string_width(latin1(display(values[index], column.kind))))
        widths.append(max(14.0, longest + 3))
    texts = widths.count(None)
    rest = pdf.epw - sum(w for w in widths if w is not None)
    if texts and rest < 30 * texts:  # too many numbers: they share what the text columns leave
        scale = (pdf.epw - 30 * texts) / (pdf.epw - rest)
        widths = [None if w is None else w * scale for w in widths]
        rest = 30 * texts
    return [rest / texts if w is None else w for w in widths] if texts else widths


def _contents(pdf: ReportPDF, sections: list[Section]) -> None:
    pdf.paragraph("Sommaire", size=10, style="B")
    pdf.paragraph("\n".join(f"{i}. {s.title}" for i, s in enumerate(sections, start=1)) + "\nDéfinitions")


def _new_block(pdf: ReportPDF) -> None:
    """A section starts on a new page unless most of the page is still free."""
    if pdf.y > pdf.h * 0.45:
        pdf.add_page()
    else:
        pdf.ln(6)


def report(pack: Pack) -> bytes:
    """The whole pack as the bytes of a PDF file."""
    pdf = ReportPDF(pack)
    pdf.add_page()
    pdf.set_font(FONT, "B", 11)
    with pdf._tag("P"):
        pdf.cell(0, 6, latin1(pack.organisation), new_x="LMARGIN", new_y="NEXT")
    pdf.heading(pack.title, 1)
    pdf.paragraph("\n".join(f"{label} : {text}" for label, text in pack.context))
    pdf.paragraph(f"Produit le {local_today():%d/%m/%Y}.", size=8)
    _contents(pdf, pack.sections)
    for section in pack.sections:
        _new_block(pdf)
        pdf.heading(section.title, 2)
        pdf.table(section.columns, section.rows, section.title)
        if section.note:
            pdf.paragraph("Commentaire", size=9, style="B")
            pdf.paragraph(section.note)
        for caption, svg in section.charts:
            pdf.figure(caption, svg)
    _new_block(pdf)
    pdf.heading("Définitions", 2)
    pdf.table(
        [Column("Terme", "text"), Column("Définition", "text")], [list(d) for d in pack.definitions], "Définitions"
    )
    return bytes(pdf.output())


__all__ = ["latin1", "report"]
