"""The indicators' written definitions: docs/indicators.md, in the repository, rendered for the dashboards'
"?" links. The file is the one definition the code and the pages cite; it is read once per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import markdown
from markupsafe import Markup

SOURCE = Path(__file__).resolve().parents[2] / "docs" / "indicators.md"


@lru_cache(maxsize=1)
def html() -> Markup:
    """The document as HTML; each section's heading gets an id (``#participation``, ``#engagement``…).

    The file is ours, versioned with the code (not user input): its HTML is trusted as is."""
    return Markup(
        markdown.markdown(SOURCE.read_text(encoding="utf-8"), extensions=["tables", "toc"], output_format="html")
    )
