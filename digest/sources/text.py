"""Turn the LaTeX found in arXiv titles, abstracts and author names into plain Unicode."""

from __future__ import annotations

import re

from pylatexenc.latex2text import LatexNodes2Text

_CONVERTER = LatexNodes2Text(math_mode="text", strict_latex_spaces=False)
_LATEX_MARKERS = re.compile(r"[\\$^{}~]")
# A bare % starts a LaTeX comment, which would drop the rest of the line. arXiv
# abstracts often use it as a plain percent sign ("a 40% gain"), so it is escaped first.
_BARE_PERCENT = re.compile(r"(?<!\\)%")
_SPACES = re.compile(r"\s+")


def latex_to_text(value: str) -> str:
    """Convert LaTeX markup to Unicode text and fold runs of white space."""
    if _LATEX_MARKERS.search(value):
        try:
            value = _CONVERTER.latex_to_text(_BARE_PERCENT.sub(r"\\%", value))
        except Exception:  # pylatexenc can fail on unbalanced input; keep the raw text then.
            pass
    return _SPACES.sub(" ", value).strip()
