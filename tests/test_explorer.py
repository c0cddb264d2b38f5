"""Issue 9: the educators' explorer over real HTTP — every route, permalinks, 404s with suggestions, escaping of what
an ontology editor writes, and no script, style or font from another host on any page."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlparse

import httpx
import pytest
from markupsafe import escape

from support import running_server

HTML = {"accept": "text/html"}
CASE = ("/assess?f.BackPain=yes&q.BackPain.ageAtOnset=25&q.BackPain.durationMonths=24&f.InsidiousOnset=yes"
        "&f.HLAB27Positive=yes&f.SacroiliitisOnMRI=yes&age=27")
PAGES = ["/", "/?q=uveitis", "/concepts/Uveitis", "/article", "/article?quote=q-back-pain-common",
         "/path?from=Uveitis&to=AxialSpondyloarthritis", "/rules", "/rules/AsasAxialSpaCriteria", "/assess", CASE,
         "/graphiql", "/graphql", "/assess/fhir", "/?q=uveitiss", "/path?from=uveitis&to=AS",
         "/compare?rules=AsasIbpCriteria,BerlinIbpCriteria", "/cases", "/cases/classic-ibp-non-radiographic?reveal=1"]


@pytest.fixture(scope="module")
def server(served):
    return served  # conftest's server with the defaults, shared with the other modules


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
    assert {"id": "Uveitis", "label": "uveitis", "matched": None} in found
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
    assert _outcomes(page)["AsasAxialSpaCriteria"] == "met"
    asas = page[page.index('id="out-AsasAxialSpaCriteria"'):]
    assert "Met</span>" in asas[:400]  # status in words, not colour alone
    assert "Classification criteria are not a diagnosis" in page
    note = page[page.index('class="disclaimer"'):][:1500]  # what the source is, then its words as a quote of it
    assert "a patient-information article by Dr Singh" in note and "These pages draw on" in note
    assert 'href="/article?quote=q-disclaimer#q-disclaimer">' in note and knowledge.disclaimer[:40] not in note
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


def test_cohort_reports_written_by_spakg_screen_are_shown_in_the_explorer(tmp_path, knowledge):
    """A clinic's path: synthesise (or export) a cohort, screen it with a JSON report into a directory, serve that
    directory; the explorer lists the report and shows each rule's counts — the report's own numbers — with the
    disclaimer, a chart and no script. A broken file says why; no name leads out of the directory."""
    import json
    import subprocess
    import sys

    reports = tmp_path / "reports"
    reports.mkdir()
    cohort = tmp_path / "clinic.parquet"
    spakg = [sys.executable, "-m", "spakg.cli"]
    subprocess.run([*spakg, "synth", "--n", "300", "--out", str(cohort)], check=True, capture_output=True)
    subprocess.run([*spakg, "screen", str(cohort), "--out", str(tmp_path / "results"), "--workers", "1",
                    "--report-json", str(reports / "clinic-2026-11.json")], check=True, capture_output=True)
    (reports / "broken.json").write_text('{"patients": -1}', encoding="utf-8")
    (tmp_path / "secret.json").write_text("{}", encoding="utf-8")
    written = json.loads((reports / "clinic-2026-11.json").read_text(encoding="utf-8"))
    assert written["patients"] == 300 and written["source"] == "clinic.parquet" and written["created"]

    with running_server("--log-level", "warning", "--reports", str(reports)) as base:
        listing = get(base, "/cohorts")
        assert listing.status_code == 200 and 'href="/cohorts"' in get(base, "/").text  # in the menu
        assert "clinic-2026-11.json" in listing.text and "300" in listing.text and "cannot be read" in listing.text
        page = get(base, "/cohorts/clinic-2026-11.json")
        assert page.status_code == 200 and "<script" not in page.text and "<svg" in page.text
        assert "Classification criteria are not a diagnosis" in page.text and "q-disclaimer" in page.text
        for rule in written["rules"]:
            assert f'href="/rules/{rule["id"]}"' in page.text
            cells = [f"{rule[s]:,} ({rule[s + '_percent']:.1f}%)" for s in ("MET", "NOT_MET", "UNDETERMINED")]
            assert all(cell in page.text for cell in cells), rule["id"]
        for q in written["nextQuestions"]["questions"]:
            assert f"would settle {q['settles_patients']:,} of them" in page.text
            named = page.text[page.text.index(f"{escape(q['ask'])}: would settle"):].split("</li>")[0]
            assert all(f'href="/rules/{r}">{escape(knowledge.rules.get(r).label)}</a>' in named
                       for r in q["rules"]), named  # rules by name, linked, not by id
        broken = get(base, "/cohorts/broken.json")
        assert broken.status_code == 422 and "&#39;patients&#39; must be a whole number" in broken.text
        bare = get(base, "/cohorts/clinic-2026-11")  # the report's name without the file's suffix: to the listed address
        assert bare.status_code == 308 and bare.headers["location"] == "/cohorts/clinic-2026-11.json"
        missing = get(base, "/cohorts/clinic-2026-12.json")
        assert missing.status_code == 404 and "/cohorts/clinic-2026-11.json" in missing.text  # did you mean
        for sneaky in ("..%2Fsecret.json", "%2E%2E%2Fsecret.json", "..\\secret.json"):
            assert get(base, "/cohorts/" + sneaky).status_code == 404

    with running_server("--log-level", "warning") as base:  # no --reports: the page says how, the menu has no link
        page = get(base, "/cohorts")
        assert page.status_code == 200 and "spakg serve --reports" in page.text
        assert 'href="/cohorts"' not in get(base, "/").text


def test_a_cohort_report_is_refused_for_what_it_gets_wrong():
    from spakg.cohort_report import CohortReport

    good = {"patients": 10, "unreadable": 1, "rules": [{"id": "R", "label": "r", "MET": 4, "NOT_MET": 5,
                                                        "UNDETERMINED": 0}],
            "nextQuestions": {"sampledUndeterminedPatients": 0, "questions": []}}
    assert CohortReport.from_dict(good).rules[0].counts == {"MET": 4, "NOT_MET": 5, "UNDETERMINED": 0}
    for bad, says in (([], "JSON object"), ({**good, "patients": "10"}, "'patients'"),
                      ({**good, "unreadable": 11}, "more than"), ({**good, "rules": [{"id": "R"}]}, "'label'"),
                      ({**good, "rules": [{**good["rules"][0], "MET": 40}]}, "counts more patients"),
                      ({**good, "nextQuestions": {"questions": [{"settles_patients": 1}]}}, "nextQuestions"),
                      ({**good, "seconds": -1}, "'seconds'")):
        with pytest.raises(ValueError, match=says):
            CohortReport.from_dict(bad)


def _outcomes(html: str) -> dict[str, str]:
    """Each rule's status as the page writes it (in words)."""
    return dict(re.findall(r'<li class="rule-outcome" id="out-(\w+)">\s*<details[^>]*>\s*<summary><span '
                           r'class="status status-(\w+)">', html))


def test_a_pasted_fhir_bundle_is_read_and_assessed_with_a_permalink_to_its_facts(server, knowledge):
    """An educator pastes an EHR's Bundle: the page says which resource stated each fact and which were not used,
    decides every rule as the CDS Hooks service does, and links to the same facts as a case of their own."""
    from datetime import date
    from pathlib import Path

    from spakg.fhir.assess import assess_bundle
    from spakg.rules import STATUS_NAMES

    path = Path(__file__).parent / "fhir" / "past-psoriasis-symmetric-arthritis-rheumatoid-factor.json"
    bundle = path.read_text(encoding="utf-8")
    r = httpx.post(server + "/assess/fhir", data={"bundle": bundle, "as_of": "2026-11-29"}, timeout=30)
    assert r.status_code == 200
    a = assess_bundle(knowledge, json.loads(bundle), date(2026, 11, 29))
    expected = {rule.id: STATUS_NAMES[s].lower() for rule, s in zip(knowledge.rules.order, a.statuses, strict=True)}
    assert _outcomes(r.text) == expected
    for f, refs in zip(a.origin.record["findings"], a.origin.origins, strict=True):
        assert f'href="/concepts/{f["concept"]}"' in r.text and all(ref in r.text for ref in refs)
    for remark in a.origin.unused:
        assert remark.reason in r.text
    permalink = re.search(r'href="(/assess\?[^"]+)">These facts', r.text).group(1).replace("&amp;", "&")
    assert _outcomes(get(server, permalink).text) == expected  # the same facts, the same answers
    assert "pt-52f" not in permalink  # no identifier in the shared link


def test_a_bad_paste_is_explained_not_crashed(server):
    for data, says in (({"bundle": "{not json"}, "That is not JSON"),
                       ({"bundle": '{"resourceType": "Patient"}'}, "[INVALID_FACTS]"),
                       ({"bundle": '{"resourceType": "Bundle", "type": "collection", "entry": []}', "as_of": "soon"},
                        "must be a date")):
        r = httpx.post(server + "/assess/fhir", data=data, timeout=30)
        assert r.status_code == 422 and says in r.text, data
        assert data["bundle"].replace('"', "&#34;") in r.text  # the paste is kept, to be corrected
    assert httpx.get(server + "/healthz").status_code == 200


def test_a_criterion_reads_like_the_paper(server):
    """Arms joined by 'or', points only where the criterion has points, quantities in words, no patient badges."""
    asas = get(server, "/rules/AsasAxialSpaCriteria").text
    items = asas[asas.index("<h2>Items"):]
    assert "any one of 2" in items[:100] and '<li class="joiner"><span>or</span></li>' in items
    assert "age at onset &lt; 45 years, duration ≥ 3 months" in asas and "ageAtOnset" not in asas
    assert '<span class="kind">present</span>' not in asas and "points" not in asas
    amor = get(server, "/rules/AmorCriteria").text
    assert "at least 6 of" in amor and "points" in amor and "(2 points)" in amor
    assert "points" not in get(server, "/rules/BerlinIbpCriteria").text
    folded = get(server, "/rules/AmorCriteria").text.count("<details open")
    assert get(server, "/rules/AmorCriteria?open=all").text.count("<details open") >= folded  # expand all
    assert get(server, "/rules/AsasAxialSpaCriteria?open=all").text.count("<details>") == 0
