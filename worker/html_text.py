"""HTML to text that keeps its line structure, for every door HTML comes in by (e-mail parts,
help-desk payloads, bodies posted as HTML), so all of them read the same text."""

from __future__ import annotations

import html
import re

_TAG = re.compile(r"<[^>]*>")
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")


def html_to_text(markup: str) -> str:
    """Readable text, one line per block, at most one empty line in a row; a plain tag strip when
    the HTML parser refuses the document (only comments, broken encodings)."""
    if not markup.strip():
        return ""
    try:
        from inscriptis import get_text

        rendered = str(get_text(markup))
    except Exception:  # noqa: BLE001 - lxml raises several kinds on hostile markup
        rendered = html.unescape(_TAG.sub(" ", markup))
    lines = [line.strip() for line in rendered.splitlines()]  # inscriptis indents nested blocks
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
