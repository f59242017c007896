"""Render emails from the Jinja2 templates: a subject, an HTML body and a plain-text body.

Within one night each paper is rendered once, and its HTML and text blocks are
reused in every digest that contains it. Only the list of matched topics and
the links differ between subscribers. Styles are written inline in the
templates, so no CSS inliner runs per email.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from digest.matching import Match, PaperLike

SNIPPET_CHARACTERS = 400
TEXT_WIDTH = 76


def templates_dir() -> Path:
    """Return the templates folder: inside the installed package, or at the top of a checkout."""
    packaged = Path(__file__).parent / "templates"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "templates"


def make_environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(templates_dir()),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


def snippet(text: str, limit: int = SNIPPET_CHARACTERS) -> str:
    """Cut ``text`` at a word boundary near ``limit`` characters, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit].rstrip(" ,.;:") + "…"


def describe_hit(field: str) -> str:
    return {"title": "in the title", "abstract": "in the abstract", "author": "as author",
            "category": "by category"}[field]


class Renderer:
    """Render emails for one site, caching each paper's blocks for the renderer's lifetime."""

    def __init__(self, site_name: str, environment: Environment | None = None) -> None:
        self.site_name = site_name
        self.env = environment or make_environment()
        self._paper_html = self.env.get_template("email/paper.html")
        self._paper_text = self.env.get_template("email/paper.txt")
        self._blocks: dict[str, tuple[Markup, str]] = {}

    def paper_blocks(self, paper: PaperLike) -> tuple[Markup, str]:
        """Return the HTML and text blocks of one paper, rendering them on first use."""
        blocks = self._blocks.get(paper.arxiv_id)
        if blocks is None:
            abstract_snippet = snippet(paper.abstract)
            context = {"paper": paper, "authors": ", ".join(paper.authors), "snippet": abstract_snippet}
            wrapped = textwrap.fill(abstract_snippet, TEXT_WIDTH, initial_indent="  ", subsequent_indent="  ")
            blocks = (
                Markup(self._paper_html.render(context)),
                self._paper_text.render(context, wrapped_snippet=wrapped).rstrip() + "\n",
            )
            self._blocks[paper.arxiv_id] = blocks
        return blocks

    def render_digest(
        self, *, digest_date: dt.date, matches: list[Match], manage_url: str, unsubscribe_url: str
    ) -> RenderedEmail:
        items = []
        for match in matches:
            html_block, text_block = self.paper_blocks(match.paper)
            items.append({
                "paper": match.paper,
                "html": html_block,
                "text": text_block,
                "hits": [(hit.topic.kind.value, hit.topic.value, describe_hit(hit.field)) for hit in match.hits],
            })
        topics = list(dict.fromkeys(hit.topic.value for match in matches for hit in match.hits))
        context = {
            "site_name": self.site_name,
            "digest_date": digest_date,
            "date_label": f"{digest_date:%A}, {digest_date.day} {digest_date:%B %Y}",
            "items": items,
            "topics": topics,
            "manage_url": manage_url,
            "unsubscribe_url": unsubscribe_url,
        }
        return self._render("digest", context)

    def render_confirmation(self, *, confirm_url: str, topics: list) -> RenderedEmail:
        return self._render("confirm", {"site_name": self.site_name, "confirm_url": confirm_url, "topics": topics})

    def render_manage_reminder(self, *, manage_url: str, unsubscribe_url: str) -> RenderedEmail:
        return self._render("already_subscribed", {
            "site_name": self.site_name, "manage_url": manage_url, "unsubscribe_url": unsubscribe_url,
        })

    def _render(self, name: str, context: dict) -> RenderedEmail:
        subject = self.env.get_template(f"email/{name}_subject.txt").render(context)
        return RenderedEmail(
            subject=" ".join(subject.split()),
            html=self.env.get_template(f"email/{name}.html").render(context),
            text=self.env.get_template(f"email/{name}.txt").render(context),
        )
