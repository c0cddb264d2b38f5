"""Issue 24: teaching cases — the vignettes as stories, a prediction per criterion, then the answers with their
proofs and which single change of the case would change each one (a link that assesses the changed case)."""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest

from spakg.resources import vignettes_dir
from spakg.vignettes import load_vignettes
from spakg.web.cases import teaching_rules
from support import running_server

CASE = "classic-ibp-non-radiographic"


@pytest.fixture(scope="module")
def server():
    with running_server("--log-level", "warning") as base:
        yield base


@pytest.fixture(scope="module")
def vignettes():
    return {v.id: v for v in load_vignettes(vignettes_dir())}


def _outcomes(html: str) -> dict[str, str]:
    return {rule: status.upper() for rule, status in re.findall(
        r'<li class="rule-outcome" id="out-(\w+)">\s*<details[^>]*>\s*<summary><span class="status status-(\w+)">', html)}


def test_the_cases_are_listed_as_stories_without_answers(server, vignettes):
    page = httpx.get(server + "/cases").text
    for v in vignettes.values():
        assert f'href="/cases/{v.id}"' in page and unescape(v.story[:60]) in unescape(page)
    assert "status-" not in page and "NOT_MET" not in page


def test_a_student_predicts_then_sees_each_answer_and_a_score(server, knowledge, vignettes):
    form = httpx.get(server + f"/cases/{CASE}").text
    rules = teaching_rules(knowledge)
    assert all(f'name="p.{r.id}"' in form for r in rules) and "status-" not in form  # nothing revealed yet
    assert not any(r.category_of for r in rules)  # a score's categories are not asked
    truth = vignettes[CASE].outcomes(knowledge)
    guesses = {"p.AsasIbpCriteria": truth["AsasIbpCriteria"], "p.ModifiedNewYorkCriteria": "MET"}
    right = sum(truth[k[2:]] == v for k, v in guesses.items())
    page = httpx.get(server + f"/cases/{CASE}", params={**guesses, "reveal": "1"}).text
    assert _outcomes(page) == {r.id: truth[r.id] for r in rules}  # the reasoner's answer for every rule
    assert f"<strong>{right} of 2</strong> predictions right" in page
    assert "✗ you said met" in page and "First, all of" in page  # the proof comes with it


def test_what_would_change_it_is_one_click_away(server, knowledge, vignettes):
    page = httpx.get(server + f"/cases/{CASE}", params={"reveal": "1"}).text
    link = re.search(r'<a href="(/assess\?[^"]+)">What if sacroiliitis on MRI were absent\?</a>', page)
    assert link, "a what-if per stated finding"
    changed = httpx.get(server + unescape(link.group(1))).text
    assert "f.SacroiliitisOnMRI=no" in unescape(link.group(1))
    axspa = changed[changed.index('id="out-AsasAxialSpaCriteria"'):][:300]
    assert "status-met" not in axspa  # without the MRI the imaging arm no longer carries her
    nyc = page[page.index('id="out-ModifiedNewYorkCriteria"'):].split('class="rule-outcome"')[0]
    assert "if radiographic sacroiliitis were present</a> → met" in nyc  # the one change that would meet it


def test_an_unknown_case_gets_a_404_with_suggestions(server):
    r = httpx.get(server + "/cases/classic-ibp")
    assert r.status_code == 404 and f'href="/cases/{CASE}"' in r.text
