"""Issue 9: the educators' explorer over real HTTP — every route, permalinks, 404s with suggestions, escaping of what
an ontology editor writes, and no script, style or font from another host on any page."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlparse

import httpx
import pytest

from support import running_server

HTML = {"accept": "text/html"}
CASE = ("/assess?f.BackPain=yes&q.BackPain.ageAtOnset=25&q.BackPain.durationMonths=24&f.InsidiousOnset=yes"
        "&f.HLAB27Positive=yes&f.SacroiliitisOnMRI=yes&age=27")
PAGES = ["/", "/?q=uveitis", "/concepts/Uveitis", "/article", "/article?quote=q-back-pain-common",
         "/path?from=Uveitis&to=AxialSpondyloarthritis", "/rules", "/rules/AsasAxialSpaCriteria", "/assess", CASE,
         "/graphiql", "/graphql"]


@pytest.fixture(scope="module")
def server():
    with running_server("--log-level", "warning") as base:
        yield base


class Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.urls.append(a["src"])
        if tag == "link" and a.get("href") and a.get("rel") in ("stylesheet", "icon", "preload", "modulepreload"):
            self.urls.append(a["href"])
        if a.get("id"):
            self.ids.add(a["id"])


def get(base: str, path: str) -> httpx.Response:
    return httpx.get(base + path, headers=HTML, timeout=30)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_is_served_with_its_assets_from_this_origin_only(server, path):
    r = get(server, path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    parser = Assets()
    parser.feed(r.text)
    for url in parser.urls:
        if url.startswith("data:"):
            continue
        absolute = urljoin(server + path, url)
        assert urlparse(absolute).netloc == urlparse(server).netloc, url
        asset = httpx.get(absolute, timeout=30)
        assert asset.status_code == 200, url
        if url.endswith(".css"):  # a stylesheet may pull fonts and images: only from here, or inline
            for ref in re.findall(r"url\(([^)]+)\)", asset.text):
                assert ref.strip("'\"").startswith(("data:", "/", "#")) or "://" not in ref, ref
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"https?://", r.text)


def test_search_suggestions_and_results(server):
    found = httpx.get(server + "/search.json", params={"q": "uvei"}).json()
    assert {"id": "Uveitis", "label": "uveitis"} in found
    page = get(server, "/?q=eye%20inflammation").text
    assert 'href="/concepts/Uveitis"' in page  # by synonym


def test_the_concept_card(server):
    page = get(server, "/concepts/Uveitis").text
    assert "<h1>uveitis</h1>" in page
    assert "MONDO:0020283" in page and "https://" in page  # cross-references link to their public browsers
    assert "shares immune pathways with" in page and "These overlaps reflect shared immune pathways" in page
    assert 'href="/article?quote=' in page  # the sentence links into the article
    assert "/rules/AsasReferralRecommendation" in page
    graph = httpx.get(server + "/concepts/Uveitis/graph.json").json()
    assert graph["center"] == "Uveitis" and {"AnteriorUveitis", "InflammatoryBackPain"} <= {n["id"] for n in graph["nodes"]}


def test_the_article_marks_every_quote_and_says_what_rests_on_it(server, knowledge):
    parser = Assets()
    page = get(server, "/article?quote=q-back-pain-common").text
    parser.feed(page)
    quote_ids = {p.iri.rsplit("/", 1)[-1] for p in knowledge.provenance.quotes.values()}
    assert quote_ids <= parser.ids  # every quote is an anchor: /article#q-… jumps to it
    rests = page[page.index('<aside class="rests"'):page.index("</aside>")]
    assert 'href="/concepts/BackPain"' in rests and 'href="/concepts/MechanicalBackPain"' in rests
    assert 'id="what-is-inflammatory-back-pain"' in page  # headings are anchors


def test_the_path_page_gives_each_steps_sentence(server):
    page = get(server, "/path?from=Uveitis&to=AxialSpondyloarthritis").text
    assert "occurs alongside" in page and "It is commonly part of axial spondyloarthritis" in page


def test_a_rule_as_a_readable_tree(server):
    page = get(server, "/rules/AsasAxialSpaCriteria").text
    assert "Rudwaleit" in page and "Threshold basis" in page
    assert 'id="item-' in page and "/concepts/HLAB27Positive" in page
    assert "Classification criteria are not a diagnosis" in page


def test_try_a_patient_from_its_permalink(server, knowledge):
    page = get(server, CASE).text
    asas = page[page.index('href="/rules/AsasAxialSpaCriteria"') - 200:]
    assert "Met</span>" in asas[:400]  # status in words, not colour alone
    assert knowledge.disclaimer[:60] in page and "Classification criteria are not a diagnosis" in page
    assert 'value="yes" aria-label="back pain: yes" checked' in page  # the form keeps the case
    assert "Most useful next questions" in page


def test_a_bad_case_is_explained_not_crashed(server):
    page = get(server, "/assess?f.BackPain=yes&q.BackPain.ageAtOnset=300")
    assert page.status_code == 200 and "[INVALID_VALUE]" in page.text and "between 0 and 120" in page.text
    page = get(server, "/assess?f.ImprovementWithRest=yes&f.WorseningWithRest=yes")
    assert "[CONTRADICTORY_FACTS]" in page.text


def test_unknown_ids_get_a_404_page_with_suggestions(server):
    r = get(server, "/concepts/Uveitiss")
    assert r.status_code == 404 and 'href="/concepts/Uveitis"' in r.text
    r = get(server, "/rules/AsasAxialSpaCriterion")
    assert r.status_code == 404 and 'href="/rules/AsasAxialSpaCriteria"' in r.text
    assert get(server, "/no/such/page").status_code == 404


def test_labels_from_the_ontology_are_escaped(ontology_copy):
    spakg = ontology_copy / "spakg.ttl"
    text = spakg.read_text(encoding="utf-8")
    spakg.write_text(text.replace('rdfs:label "uveitis"', 'rdfs:label "uveitis <script>alert(1)</script>"', 1),
                     encoding="utf-8")
    with running_server("--ontology", str(ontology_copy), "--log-level", "warning") as base:
        for path in ("/concepts/Uveitis", "/?q=uveitis", "/concepts/AnteriorUveitis", "/assess"):
            page = get(base, path).text
            assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path
