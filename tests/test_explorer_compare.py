"""Issue 24: criteria side by side — the same finding on one row, each criterion's threshold and citation."""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest

from support import running_server

IBP = "/compare?rules=AsasIbpCriteria,BerlinIbpCriteria,CalinIbpCriteria"


@pytest.fixture(scope="module")
def server():
    with running_server("--log-level", "warning") as base:
        yield base


def rows(html: str) -> dict[str, list[str]]:
    """Each row's heading (a finding) and its cells' text, from the comparison table."""
    table = html[html.index('<table class="compare">'):html.index("</table>")]
    out = {}
    for heading, cells in re.findall(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', table, re.S):
        name = unescape(re.sub(r"<[^>]+>", "", heading)).split("  ")[0].strip()
        name = re.sub(r" \d+ of \d+$", "", name)
        out[name] = [" ".join(unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)]
    return out


def test_the_findings_criteria_share_line_up_with_each_ones_threshold(server, knowledge):
    page = httpx.get(server + IBP)
    assert page.status_code == 200
    table = rows(page.text)
    back = table["back pain"]
    assert len(back) == 3 and all(cell != "—" for cell in back)  # all three read back pain, in their own words
    assert "age at onset < 40 years" in back[0] and "duration > 3 months" in back[2]
    assert table["insidious onset"][1] == "—"  # Berlin does not ask it
    assert "absent" in table["improvement with rest"][0]  # ASAS: no improvement with rest
    heads = list(table)
    assert heads.index("back pain") < heads.index("night pain that improves on getting up")  # shared rows first
    for rule in ("AsasIbpCriteria", "BerlinIbpCriteria", "CalinIbpCriteria"):
        assert knowledge.rules.get(rule).citations[0].split(",")[0] in page.text  # each one's paper


def test_every_rule_links_to_a_comparison_with_the_criteria_that_conclude_the_same(server):
    page = httpx.get(server + "/rules/AsasIbpCriteria").text
    link = re.search(r'href="(/compare\?rules=[^"]+)"', page).group(1)
    assert link.startswith("/compare?rules=AsasIbpCriteria,") and "BerlinIbpCriteria" in link
    assert httpx.get(server + unescape(link)).status_code == 200
    alone = httpx.get(server + "/rules/CasparCriteria").text
    assert 'href="/compare?rules=CasparCriteria"' in alone


def test_a_wrong_rule_is_named_with_what_was_meant(server):
    page = httpx.get(server + "/compare", params={"rules": "AsasIbpCriteria,BerlinIbpCriterion"})
    assert page.status_code == 404 and "BerlinIbpCriteria" in page.text
    chosen = httpx.get(server + "/compare", params=[("rules", "AsasIbpCriteria"), ("rules", "CalinIbpCriteria")])
    assert chosen.status_code == 200 and len(rows(chosen.text)["back pain"]) == 2  # the chooser's checkboxes
