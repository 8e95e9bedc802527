"""The reports' common PDF layout (reportlab): fonts, paragraph styles, tables, footer.

One look for every report: A4, 18 mm side margins, DejaVu Sans (Unicode: patient
references and VOI names in any script), grey-ruled tables with a shaded head row. The
PDFs are built ``invariant`` (no creation time or random id inside), so the same report
gives the same bytes. reportlab is imported only when a report is built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfgen.canvas import Canvas
    from reportlab.platypus import Paragraph, Table

MARGIN_MM = 18.0
"""Left and right page margins."""
SEVERITY_COLOURS = {"block": "#D55E00", "warning": "#E69F00", "info": "#0072B2"}
"""Okabe-Ito colours of finding severities: told apart with every common colour-vision
deficiency."""


def font_names() -> tuple[str, str]:
    """A Unicode TrueType font (DejaVu Sans, shipped with matplotlib) when it is found,
    else reportlab's built-in Helvetica (Latin-1 only)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if "DejaVuSans" in pdfmetrics.getRegisteredFontNames():
        return "DejaVuSans", "DejaVuSans-Bold"
    try:
        from importlib.resources import files

        fonts = files("matplotlib") / "mpl-data" / "fonts" / "ttf"
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(fonts / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(fonts / "DejaVuSans-Bold.ttf")))
    except (ImportError, OSError, ValueError):  # pragma: no cover - matplotlib is a dependency
        return "Helvetica", "Helvetica-Bold"
    return "DejaVuSans", "DejaVuSans-Bold"


@dataclass(frozen=True)
class Styles:
    """The paragraph styles of a report and the two font names."""

    regular: str
    bold: str
    body: ParagraphStyle
    strong: ParagraphStyle
    small: ParagraphStyle
    heading: ParagraphStyle
    title: ParagraphStyle


def styles() -> Styles:
    """Body 8.5 pt, headings 11 pt bold, title 15 pt bold, small 7 pt."""
    from reportlab.lib.styles import ParagraphStyle

    regular, bold = font_names()
    body = ParagraphStyle("body", fontName=regular, fontSize=8.5, leading=10.5)
    return Styles(
        regular=regular,
        bold=bold,
        body=body,
        strong=ParagraphStyle("strong", parent=body, fontName=bold),
        small=ParagraphStyle("small", parent=body, fontSize=7, leading=8.5),
        heading=ParagraphStyle(
            "heading",
            parent=body,
            fontName=bold,
            fontSize=11,
            leading=14,
            spaceBefore=6,
            spaceAfter=3,
            keepWithNext=1,  # never a heading alone at the foot of a page
        ),
        title=ParagraphStyle("title", parent=body, fontName=bold, fontSize=15, leading=19),
    )


def paragraph(text: str, style: ParagraphStyle) -> Paragraph:
    """Plain text (escaped: ``<`` and ``&`` are text, not markup) as a paragraph."""
    from xml.sax.saxutils import escape

    from reportlab.platypus import Paragraph

    return Paragraph(escape(text), style)


def table(
    data: Sequence[Sequence[str]],
    widths: Sequence[float],
    head: Sequence[str] | None,
    look: Styles,
    *,
    align_right_from: int | None = None,
    cell_style: ParagraphStyle | None = None,
) -> Table:
    """A grey-ruled table of text cells; ``head`` is repeated on every page it spans.

    ``align_right_from``: columns from this index on are right-aligned (numbers).
    """
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_RIGHT
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Table, TableStyle

    body = cell_style or look.body
    right = ParagraphStyle("right", parent=body, alignment=TA_RIGHT)
    strong = ParagraphStyle("head", parent=body, fontName=look.bold)
    strong_right = ParagraphStyle("head-right", parent=strong, alignment=TA_RIGHT)

    def style_of(column: int, head_row: bool) -> ParagraphStyle:
        numeric = align_right_from is not None and column >= align_right_from
        if head_row:
            return strong_right if numeric else strong
        return right if numeric else body

    cells = [[paragraph(h, style_of(c, True)) for c, h in enumerate(head)]] if head else []
    cells += [[paragraph(str(v), style_of(c, False)) for c, v in enumerate(row)] for row in data]
    result = Table(cells, colWidths=list(widths), repeatRows=1 if head else 0)
    result.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#999999")),
                *([("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E8E8E8"))] if head else []),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    return result


PageDecorator = Callable[["Canvas", Any], None]


def footer(look: Styles, text: str) -> PageDecorator:
    """Draws ``text`` at the bottom left of every page and the page number at the right."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm

    def decorate(canvas: Canvas, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(look.regular, 7)
        canvas.drawString(MARGIN_MM * mm, 10 * mm, text)
        canvas.drawRightString(A4[0] - MARGIN_MM * mm, 10 * mm, f"page {doc.page}")
        canvas.restoreState()

    return decorate


def content_width_pt() -> float:
    """The width between the margins of an A4 page, in points."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm

    return float(A4[0] - 2 * MARGIN_MM * mm)


def build_pdf(story: Sequence[Any], *, title: str, subject: str, decorate: PageDecorator) -> bytes:
    """The report's PDF bytes: A4, the common margins, ``decorate`` on every page, built
    invariant (the same story gives the same bytes)."""
    import io

    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN_MM * mm,
        rightMargin=MARGIN_MM * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=title,
        author="y90dose",
        subject=subject,
        invariant=True,
    )
    doc.build(list(story), onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()
