"""Turn a verbatim quote of the article into a provenance resource (Web Annotation selectors + PROV-O).

Used by ``spakg quote`` so that a knowledge engineer never types an offset by hand.
"""

from __future__ import annotations

from .article import Article


def _turtle_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def evidence_turtle(article: Article, quote_id: str, quote: str, occurrence: int = 1) -> str:
    """Turtle for quote resource ``src:<quote_id>``; raises QuoteNotFound if the quote is not verbatim."""
    start, end = article.locate(quote, occurrence)
    section = article.section_at(start)
    return (
        f"src:{quote_id} a oa:SpecificResource, prov:Entity ;\n"
        f"    oa:hasSource src:article ;\n"
        f"    dcterms:isPartOf src:{section_id(section)} ;\n"
        f"    oa:hasSelector [ a oa:TextQuoteSelector ; oa:exact {_turtle_string(quote)} ] ,\n"
        f"        [ a oa:TextPositionSelector ; oa:start {start} ; oa:end {end} ] .\n"
    )


def section_id(heading: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in heading.lower()).split()
    return "sec-" + "-".join(words)
