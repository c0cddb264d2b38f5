"""Every quote stands verbatim in the seeds text at its offsets, in its section; the article is the one hashed;
every prov:wasDerivedFrom into the source namespace points at a quote that exists."""

from __future__ import annotations

from ..namespaces import OA, PROV, SPAKG, SRC
from ..provenance import ProvenanceIndex
from ..shapes import curie
from .base import Check, CheckContext, CheckResult


class QuotesMatchTheArticle(Check):
    id = "provenance"
    title = "every quote matches the article at its offsets"

    def run(self, ctx: CheckContext, result: CheckResult) -> None:
        graph, article = ctx.graph, ctx.article
        recorded = graph.value(SRC.article, SPAKG.sha256)
        if recorded is not None and str(recorded) != article.sha256:
            result.error("src:article", f"The article resource records sha256 {recorded}, but seeds/ holds a text with "
                                        f"sha256 {article.sha256}.",
                         "seeds/ must stay byte-identical to the source article; restore it rather than edit the hash.")
        index = ProvenanceIndex(graph)
        for iri, p in sorted(index.quotes.items()):
            name = curie(iri)
            quote_id = name.removeprefix("src:")
            if p.quote is None or p.start is None or p.start < 0:
                result.error(name, f"{name} lacks an oa:TextQuoteSelector (oa:exact) or an oa:TextPositionSelector "
                                   f"(oa:start, oa:end).",
                             f"Regenerate it with `spakg quote {quote_id} \"<the article's exact words>\"`.")
                continue
            if article.text[p.start:p.end] == p.quote:
                section = article.section_at(p.start)
                if p.section is not None and p.section != section:
                    result.error(name, f"{name} is dcterms:isPartOf the section '{p.section}', but offset {p.start} "
                                       f"lies in '{section}'.",
                                 f"Regenerate it with `spakg quote {quote_id} \"{_short(p.quote)}\"`.")
                continue
            found = article.text.find(p.quote)
            if found >= 0:
                result.error(name, f"{name}'s text is in the article, but at {found}–{found + len(p.quote)}, not at "
                                   f"its stored offsets {p.start}–{p.end}.",
                             f"Never type offsets: regenerate it with `spakg quote {quote_id} \"{_short(p.quote)}\"`.")
            else:
                result.error(name, f"{name}'s text is not in the article verbatim: {_short(p.quote)!r}.",
                             "Copy the exact words from seeds/ (spacing, dashes and quotes included), then run "
                             f"`spakg quote {quote_id} \"...\"`. Never paraphrase inside a quote.")
        quotes = set(index.quotes) | {SRC.article}
        for subject, target in sorted(graph.subject_objects(PROV.wasDerivedFrom)):
            if str(target).startswith(str(SRC)) and target not in quotes:
                result.error(curie(subject), f"{curie(subject)} is derived from {curie(target)}, which is not a quote "
                                             f"resource (no oa:hasSource src:article).",
                             f"Check the spelling of {curie(target)}, or create it with `spakg quote`.")
        result.examined = f"{len(index.quotes)} quotes, {len(list(graph.subjects(OA.hasSource, None)))} annotations"


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
