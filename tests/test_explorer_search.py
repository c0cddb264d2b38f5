"""Issue 24: the explorer's search finds what a student types — the concept named first, its synonym said, a
misspelling answered with "did you mean" — and the path page takes names and shows several chains."""

from __future__ import annotations

import httpx
import pytest

from spakg.web.paths import generic, paths
from spakg.web.search import EXACT, ConceptSearch
from support import running_server


@pytest.fixture(scope="module")
def finder(knowledge) -> ConceptSearch:
    return ConceptSearch(knowledge)


@pytest.mark.parametrize(("typed", "first", "matched"), [
    ("uveitis", "Uveitis", "uveitis"),            # before acute anterior and anterior uveitis, which contain it
    ("AS", "AnkylosingSpondylitis", "AS"),         # its own synonym, not the 24th of 50 substring hits
    ("as", "AnkylosingSpondylitis", "AS"),
    ("eye inflammation", "Uveitis", "eye inflammation"),
    ("HLA B27 positive", "HLAB27Positive", "HLA-B27 positive"),  # punctuation aside
    ("MRI", "MriOfSacroiliacJoints", "MRI"),
])
def test_the_concept_a_name_or_synonym_names_comes_first(finder, typed, first, matched):
    found = finder.search(typed)
    top = found.hits[0]
    assert (top.concept.id, top.rank, top.matched) == (first, EXACT, matched)
    assert top.via_synonym == (matched != top.concept.label)


def test_names_that_begin_with_or_hold_the_words_follow_in_that_order(finder):
    ids = [h.concept.id for h in finder.search("uveitis").hits]
    assert ids[:3] == ["Uveitis", "AnteriorUveitis", "AcuteAnteriorUveitis"]
    ranks = [h.rank for h in finder.search("back pain").hits]
    assert ranks == sorted(ranks)


@pytest.mark.parametrize(("typed", "meant"), [
    ("uveitiss", "Uveitis"), ("ankylosing spondilitis", "AnkylosingSpondylitis"),
    ("morning stifness", "MorningStiffness"), ("spondilitis", "AnkylosingSpondylitis"),
])
def test_a_misspelling_gets_did_you_mean(finder, typed, meant):
    found = finder.search(typed)
    assert found.hits == [] and found.did_you_mean[0].concept.id == meant


def test_nonsense_finds_nothing_and_guesses_nothing(finder):
    found = finder.search("zzqxw")
    assert found.hits == [] and found.did_you_mean == []


def test_names_resolve_to_their_concept(finder, knowledge):
    for ref in ("Uveitis", "spakg:Uveitis", "uveitis", "Eye inflammation", "  UVEITIS "):
        assert finder.resolve(ref) is knowledge.concepts.get("Uveitis"), ref
    assert finder.resolve("AS") is knowledge.concepts.get("AnkylosingSpondylitis")
    assert finder.resolve("uveitiss") is None


def test_several_shortest_paths_and_none_through_an_upper_class(knowledge):
    c = knowledge.concepts.get
    found = paths(knowledge.concepts, c("Uveitis"), c("AxialSpondyloarthritis"))
    assert 2 <= len(found) <= 5 and len(found[0]) == 2
    assert [len(p) for p in found] == sorted(len(p) for p in found)
    assert len({tuple((s.relation, s.target.id) for s in p) for p in found}) == len(found)  # each chain differs
    for p in found:
        assert p[0].source.id == "Uveitis" and p[-1].target.id == "AxialSpondyloarthritis"
        assert not any(generic(s.target) for s in p[:-1]), p  # "clinical finding", "disease" are not stepped through
        assert len({s.target.id for s in p}) == len(p)  # simple: no concept twice
    assert paths(knowledge.concepts, c("Uveitis"), c("Uveitis")) == [[]]


def test_an_upper_class_is_stepped_through_when_asked(knowledge):
    c = knowledge.concepts.get
    plain = paths(knowledge.concepts, c("Uveitis"), c("PrecedingUrethritisOrCervicitis"))
    through = paths(knowledge.concepts, c("Uveitis"), c("PrecedingUrethritisOrCervicitis"), through_generic=True)
    assert len(through[0]) < len(plain[0]) and any(generic(s.target) for s in through[0][:-1])  # via "disease"


@pytest.fixture(scope="module")
def server():
    with running_server("--log-level", "warning") as base:
        yield base


def test_the_search_page_says_which_synonym_matched_and_did_you_mean(server):
    page = httpx.get(server + "/", params={"q": "AS"}).text
    results = page[page.index('<ul class="results">'):]
    assert results.index('href="/concepts/AnkylosingSpondylitis"') < results.index("</li>")  # first
    assert "(“AS”)" in results[:results.index("</li>")]
    page = httpx.get(server + "/", params={"q": "ankylosing spondilitis"}).text
    assert "No concept is called" in page and 'Did you mean <a href="/?q=ankylosing%20spondylitis">' in page


def test_suggestions_insert_names(server):
    found = httpx.get(server + "/search.json", params={"q": "AS"}).json()
    assert found[0] == {"id": "AnkylosingSpondylitis", "label": "ankylosing spondylitis", "matched": "AS"}
    assert httpx.get(server + "/search.json", params={"q": "uveitiss"}).json()[0]["label"] == "uveitis"


def test_the_path_page_takes_names_and_offers_did_you_mean(server):
    page = httpx.get(server + "/path", params={"from": "uveitis", "to": "axial spondyloarthritis"}).text
    assert "Unknown concept" not in page and page.count('<section class="chain"') >= 2
    assert "It is commonly part of axial spondyloarthritis" in page
    page = httpx.get(server + "/path", params={"from": "uveits", "to": "AS"}).text
    assert "No concept is called “uveits”" in page and "from=uveitis&amp;to=ankylosing+spondylitis" in page


def test_each_card_has_a_path_picker_and_never_asks_how_a_concept_connects_to_itself(server):
    page = httpx.get(server + "/concepts/Uveitis").text
    assert 'action="/path"' in page and 'name="from" value="Uveitis"' in page
    axspa = httpx.get(server + "/concepts/AxialSpondyloarthritis").text
    assert "connected to axial spondyloarthritis" not in axspa and 'name="to" value=""' in axspa
