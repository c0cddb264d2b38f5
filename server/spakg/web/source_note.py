"""What the knowledge's source is, for the explorer's disclaimer: the article's own description of itself
(``rdfs:comment`` on the article) and the sentence it ends with (``spakg:disclaimer``), offered as a quote of the
source rather than as spakg's own words. Read once per ontology version."""

from __future__ import annotations

from ..knowledge import Knowledge
from ..namespaces import RDFS, SPAKG, SRC


class SourceNote:
    def __init__(self, k: Knowledge) -> None:
        self.title = k.provenance.article.title
        comment = k.graph.value(SRC.article, RDFS.comment)
        self.about = str(comment) if comment is not None else ""
        quote = k.graph.value(SRC.article, SPAKG.disclaimer)
        self.quote_id = str(quote).rsplit("/", 1)[-1] if quote is not None else None
        self.quote = k.disclaimer
