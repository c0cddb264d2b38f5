"""The article as a page: its text with every quoted span marked, and for each quote what rests on it (concepts,
relations, rules and rule items). Built once per ontology version from the compiled knowledge, not from RDF."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from html import escape

from markupsafe import Markup

from ..knowledge import Knowledge
from ..provenance import Provenance
from ..rules import ConclusionItem, Group, Item, Rule


@dataclass(frozen=True)
class Use:
    kind: str      # concept, relation, rule, rule item
    label: str
    href: str


@dataclass
class Quote:
    id: str
    text: str
    start: int
    end: int
    section: str | None
    uses: list[Use] = field(default_factory=list)


def quote_id(p: Provenance) -> str | None:
    return p.iri.rsplit("/", 1)[-1] if p.iri else None


class ArticleView:
    def __init__(self, knowledge: Knowledge) -> None:
        self.title = knowledge.provenance.article.title
        self.quotes: dict[str, Quote] = {}
        for p in knowledge.provenance.quotes.values():
            qid = quote_id(p)
            if qid and p.quote is not None and p.start is not None and p.end is not None:
                self.quotes[qid] = Quote(qid, p.quote, p.start, p.end, p.section)
        self._index_uses(knowledge)
        self.blocks: list[tuple[Markup, frozenset[str]]] = self._render(knowledge.article.text, knowledge)

    def _add(self, sources: list[Provenance], use: Use) -> None:
        for p in sources:
            quote = self.quotes.get(quote_id(p) or "")
            if quote is not None and use not in quote.uses:
                quote.uses.append(use)

    def _index_uses(self, k: Knowledge) -> None:
        for c in k.concepts:
            self._add(c.sources, Use("concept", c.label, f"/concepts/{c.id}"))
            for r in c.outgoing:
                self._add(r.sources, Use("relation", f"{r.subject.label} {r.label} {r.object.label}",
                                         f"/concepts/{r.subject.id}#relations"))
        for rule in k.rules.order:
            self._add(rule.sources, Use("rule", rule.label, f"/rules/{rule.id}"))
            for item in rule_items(rule):
                self._add(item.sources, Use("rule item", f"{item.label} ({rule.short_label or rule.label})",
                                            f"/rules/{rule.id}#item-{item.id}"))

    def _render(self, text: str, k: Knowledge) -> list[tuple[Markup, frozenset[str]]]:
        """Paragraphs and headings, each with the quotes it holds; each quoted span a link (its first piece carries
        the quote's id as anchor). Quotes may overlap: the text is cut at every quote boundary and each piece marked
        with all its quotes."""
        headings = {h.start: h for h in k.article.headings}
        cuts = sorted({0, len(text)} | {q.start for q in self.quotes.values()} | {q.end for q in self.quotes.values()}
                      | {i for i, ch in enumerate(text) if ch == "\n"} | {i + 1 for i, ch in enumerate(text) if ch == "\n"})
        opened: set[str] = set()
        out: list[tuple[Markup, frozenset[str]]] = []
        line: list[str] = []
        held: set[str] = set()
        line_start = 0

        def flush(end: int) -> None:
            content = "".join(line).strip()
            if content:
                heading = headings.get(line_start)
                if heading is not None:
                    anchor = _slug(heading.text)
                    # the section's link beside its text, not around it: the text may hold a quote's link
                    block = (f'<h2 id="{anchor}">{content} <a class="anchor" href="#{anchor}" '
                             f'aria-label="Link to this section">#</a></h2>')
                else:
                    block = f"<p>{content}</p>"
                out.append((Markup(block), frozenset(held)))
            line.clear()
            held.clear()

        for a, b in itertools.pairwise(cuts):
            piece = text[a:b]
            if piece == "\n":
                flush(a)
                line_start = b
                continue
            covering = sorted((q for q in self.quotes.values() if q.start <= a and b <= q.end), key=lambda q: q.start)
            if not covering:
                line.append(escape(piece))
                continue
            first = covering[0]
            ids = " ".join(q.id for q in covering)
            held.update(q.id for q in covering)
            anchor = ""
            for q in covering:
                if q.id not in opened:
                    opened.add(q.id)
                    anchor += f'<span id="{q.id}" class="target"></span>'
            out_piece = (f'{anchor}<a class="quote" href="/article?quote={first.id}#{first.id}" data-quotes="{ids}">'
                         f"{escape(piece)}</a>")
            line.append(out_piece)
        flush(len(text))
        return out


def rule_items(rule: Rule) -> list[Item]:
    """Every item of a rule, nested groups and entry conditions included (not the rules it names as items)."""
    out: list[Item] = []
    stack: list[Item] = [*rule.requires, *rule.items]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, Rule):
            continue
        seen.add(id(item))
        out.append(item)
        if isinstance(item, Group):
            stack.extend([*item.requires, *item.items])
        elif isinstance(item, ConclusionItem):
            continue
    return out


def _slug(text: str) -> str:
    return "".join(ch.lower() if ch.isalnum() else "-" for ch in text).strip("-")[:60] or "section"
