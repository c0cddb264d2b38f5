"""Issue 9, in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright) walks an educator's path
through the explorer at phone and desktop width, failing on any console error or any request to another host, and
saves a screenshot of each step (to $SPAKG_SCREENSHOTS, or the test's temporary directory)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

from support import running_server

CHROMIUM = os.environ.get("SPAKG_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the [test] extra)")
if not Path(CHROMIUM).exists():
    pytest.skip("no Chromium: apt-get install chromium (or set SPAKG_CHROMIUM); .ci/run installs it",
                allow_module_level=True)

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def base(tmp_path_factory, knowledge):
    """The server, with a directory holding one cohort report (the shipped rules' names, made-up counts)."""
    import json

    from spakg.cohort_report import CohortReport, RuleCounts

    reports = tmp_path_factory.mktemp("reports")
    rules = [RuleCounts(r.id, r.label, {"MET": 40 + 30 * i, "NOT_MET": 300, "UNDETERMINED": 660 - 30 * i})
             for i, r in enumerate(knowledge.rules.order)]
    report = CohortReport(1000, 0, rules, [{"ask": "HLA-B27 positive", "settles_patients": 412,
                                            "rules": ["AsasAxialSpaCriteria", "AsasReferralRecommendation"]}],
                          sampled=900, seconds=2.5, disclaimer=knowledge.disclaimer, source="clinic.parquet")
    (reports / "clinic.json").write_text(json.dumps(report.as_dict()), encoding="utf-8")
    with running_server("--log-level", "warning", "--reports", str(reports)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def shots(tmp_path) -> Path:
    where = Path(os.environ.get("SPAKG_SCREENSHOTS") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.mark.parametrize("width", [390, 1400])
def test_an_educators_walk_through_the_explorer(base, browser, shots, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("response", lambda r: problems.append(f"{r.status} for {r.url}") if r.status >= 400 else None)
    host = urlparse(base).netloc
    page.on("request", lambda r: problems.append(f"request to another host: {r.url}")
            if urlparse(r.url).scheme in ("http", "https") and urlparse(r.url).netloc != host else None)

    def shot(name: str, full: bool = False) -> None:
        page.screenshot(path=str(shots / f"{width}-{name}.png"), full_page=full)

    # search "uveitis" and open its card
    page.goto(base + "/")
    page.get_by_label("Search concepts by name or synonym").fill("uveitis")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/?q=uveitis")
    shot("1-search")
    page.locator("ul.results").get_by_role("link", name="uveitis", exact=True).click()
    page.wait_for_url("**/concepts/Uveitis")
    assert page.get_by_role("heading", level=1).inner_text() == "uveitis"
    page.locator("#graph canvas").first.wait_for()  # locators, not wait_for_function: the page's CSP forbids eval
    shot("2-concept", full=True)

    # the sentence a relation rests on, in the article, with what rests on it
    page.locator("#relations").get_by_role("link", name="These overlaps reflect shared immune pathways", exact=False).click()
    page.wait_for_url("**/article?quote=*")
    quote_id = page.url.rsplit("#", 1)[-1]
    assert page.locator(f"#{quote_id}").count() == 1
    panel = page.locator("aside.rests")
    assert "shares immune pathways" in panel.inner_text()
    assert panel.is_visible()
    shot("3-article")

    # how uveitis is connected to axial SpA, step by step with sentences
    page.goto(base + "/concepts/Uveitis")
    picker = page.locator("form.path-picker")
    assert picker.get_by_label("Another concept").input_value() == "axial spondyloarthritis"
    picker.get_by_role("button", name="Show the paths").click()
    page.wait_for_url("**/path?*")
    steps = page.locator("section.chain").first.locator("ol.path > li")
    assert steps.count() == 2 and "It is commonly part of axial spondyloarthritis" in steps.nth(1).inner_text()
    assert page.locator("section.chain").count() >= 2
    shot("4-path", full=True)

    # the ASAS axial SpA criterion as a tree
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Criteria").click()
    page.get_by_role("link", name="ASAS classification criteria for axial spondyloarthritis").click()
    page.wait_for_url("**/rules/AsasAxialSpaCriteria")
    assert "Rudwaleit" in page.content()
    shot("5-rule", full=True)

    # try a patient: answer a few findings, read the MET rule's proof
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Try a patient").click()
    submit = page.get_by_role("button", name="Assess")
    assert submit.is_visible() and submit.bounding_box()["y"] < 900  # sticky: in view without scrolling the form
    page.locator("#ask-Uveitis label.choice", has_text="yes").click()  # the word is the target, not a 20 px dot
    assert page.get_by_label("uveitis: yes", exact=True).is_checked()
    page.locator("#ask-Uveitis label.choice", has_text="not known").click()
    box = page.locator("#ask-Uveitis label.choice").first.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 44
    page.get_by_label("Age (years)").fill("27")
    for finding in ("back pain", "insidious onset", "HLA-B27 positive", "sacroiliitis on MRI"):
        page.get_by_label(f"{finding}: yes", exact=True).check()
    page.get_by_label("back pain: age at onset (years)").fill("25")
    page.get_by_label("back pain: duration (months)").fill("24")
    page.get_by_role("button", name="Assess").click()
    page.wait_for_url("**/assess?*")
    assert len(page.url) < 200  # only what was answered goes in the address to share
    assert page.locator("p.summary").is_visible()
    outcome = page.locator("#out-AsasAxialSpaCriteria")
    assert "Met" in outcome.locator(".status").first.inner_text()
    assert "imaging arm" in outcome.inner_text().lower() or "sacroiliitis" in outcome.inner_text().lower()
    assert "Classification criteria are not a diagnosis" in page.content()
    shot("6-patient")
    outcome.scroll_into_view_if_needed()
    shot("7-proof")

    # GraphiQL works offline from the package's own files
    page.goto(base + "/graphql")
    page.wait_for_selector(".graphiql-container")
    page.locator(".graphiql-execute-button").click()
    page.locator(".result-window", has_text="shares immune pathways").wait_for()
    shot("8-graphiql")

    context.close()
    assert problems == []


CASE = "/assess?f.BackPain=yes&q.BackPain.ageAtOnset=25&q.BackPain.durationMonths=24&f.HLAB27Positive=yes&age=27"
PAGES = ["/", "/concepts/AnkylosingSpondylitis", "/concepts/Uveitis", "/article",
         "/path?from=Uveitis&to=AxialSpondyloarthritis", "/rules", "/rules/AsasAxialSpaCriteria",
         "/rules/AsasReferralRecommendation", "/assess", CASE, "/cohorts", "/cohorts/clinic.json", "/assess/fhir",
         "/compare?rules=AsasIbpCriteria,BerlinIbpCriteria,CalinIbpCriteria", "/cases",
         "/cases/classic-ibp-non-radiographic", "/cases/classic-ibp-non-radiographic?p.AsasIbpCriteria=MET&reveal=1"]


def test_no_page_scrolls_sideways_on_a_phone(base, browser, shots):
    """A table of prose (cross-references, the criteria list) stacks on a phone rather than running off the screen."""
    page = browser.new_context(viewport={"width": 390, "height": 900}).new_page()
    wide = {}
    for path in PAGES:
        page.goto(base + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 390:
            wide[path] = width
    page.goto(base + "/concepts/AnkylosingSpondylitis")
    page.locator("#xref-h").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "390-xrefs.png"))
    assert wide == {}


def _watched(browser, base: str, width: int):
    """A page at this width, and the list its console errors and requests to another host are written to."""
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: problems.append(r.url) if urlparse(r.url).netloc != urlparse(base).netloc else None)
    return page, problems


@pytest.mark.parametrize("width", [390, 1400])
def test_a_cohort_report_reads_on_a_phone_and_a_desktop(base, browser, shots, width, knowledge):
    """The chart is drawn (a bar per rule, its three parts in the site's colours) and every label fits its row."""
    page, problems = _watched(browser, base, width)
    page.goto(base + "/cohorts")
    page.get_by_role("link", name="clinic.json").click()
    chart = page.locator("svg.chart")
    chart.wait_for()
    rules = len(knowledge.rules.order)
    assert chart.locator("rect.bar-met").count() == len(page.locator("table.counts tbody tr").all()) == rules
    box = chart.bounding_box()
    assert box is not None and 300 <= box["width"] <= min(width, 40 * 16)
    assert page.evaluate("getComputedStyle(document.querySelector('rect.bar-met')).fill") == "rgb(26, 107, 47)"
    widest = page.evaluate("Math.max(...[...document.querySelectorAll('svg.chart text')].map(t => t.getBBox().width))")
    assert widest <= 400  # the chart's own width: no label runs past it
    chart.screenshot(path=str(shots / f"{width}-cohort-chart.png"))
    page.screenshot(path=str(shots / f"{width}-cohort.png"), full_page=True)
    assert problems == []


@pytest.mark.parametrize("width", [390, 1400])
def test_a_pasted_fhir_record_reads_on_a_phone_and_a_desktop(base, browser, shots, width, knowledge):
    """An educator pastes a Bundle: what each resource stated, and every rule's answer, on a page that fits."""
    bundle = (Path(__file__).parent / "fhir" / "established-ankylosing-spondylitis.json").read_text(encoding="utf-8")
    page, problems = _watched(browser, base, width)
    page.goto(base + "/assess")
    page.get_by_role("link", name="Or paste a FHIR record").click()
    page.fill("#bundle", bundle)
    page.fill("input[name=as_of]", "2026-11-29")
    page.get_by_role("button", name="Read and assess").click()
    page.locator("#read-h").wait_for()
    assert page.locator("table.read tbody tr").count() >= 5
    assert page.locator("li.rule-outcome").count() == len(knowledge.rules.order)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(shots / f"{width}-fhir.png"), full_page=True)
    assert problems == []


def test_graphiql_stacks_the_query_and_its_answer_on_a_phone(base, browser, shots):
    """Side by side, the answer got a sliver of a phone's screen; stacked, each has the width."""
    page, problems = _watched(browser, base, 390)
    page.goto(base + "/graphiql")
    page.locator(".graphiql-execute-button").click()
    page.locator(".result-window", has_text='"data"').wait_for()
    editor, answer = page.locator(".graphiql-editors").bounding_box(), page.locator(".graphiql-response").bounding_box()
    assert editor and answer and answer["width"] >= 250 and answer["y"] >= editor["y"] + editor["height"] - 1
    page.screenshot(path=str(shots / "390-graphiql.png"))
    assert problems == []


def test_a_teaching_case_prints_without_the_menu_or_the_form(base, browser, shots):
    page, problems = _watched(browser, base, 1000)
    page.goto(base + CASE)
    page.emulate_media(media="print")
    assert not page.locator("header.top nav").is_visible() and not page.locator("form.patient").is_visible()
    assert page.locator("li.rule-outcome").first.is_visible() and page.locator(".disclaimer").is_visible()
    page.pdf(path=str(shots / "case.pdf"))
    assert problems == []


def test_the_neighbourhood_graph_grows_from_the_keyboard(base, browser, shots):
    """The canvas takes no focus; a button per concept not yet expanded does what a click on its node does."""
    page, problems = _watched(browser, base, 1400)
    page.goto(base + "/concepts/Uveitis")
    first = page.locator("#graph-keys button").first
    first.wait_for()
    before = int(page.locator("#graph").get_attribute("data-nodes"))
    label = first.inner_text().removeprefix("Add the neighbours of ")
    first.focus()
    page.keyboard.press("Enter")
    page.wait_for_function(f"Number(document.getElementById('graph').dataset.nodes) > {before}")
    assert f"Add the neighbours of {label}" not in page.locator("#graph-keys button").all_inner_texts()  # expanded
    page.locator("#graph").screenshot(path=str(shots / "graph-keyboard.png"))
    assert problems == []


def _axe_source() -> str:
    """axe-core's script as the axe-playwright-python package ships it (a pip package of the [test] extra: nothing
    is fetched from a CDN, and the page under test never loads it from anywhere but this test)."""
    axe = pytest.importorskip("axe_playwright_python", reason="pip install axe-playwright-python (the [test] extra)")
    return (Path(axe.__file__).parent / "axe.min.js").read_text(encoding="utf-8")


AXE_PAGES = [*PAGES, "/?q=AS", "/?q=uveitiss", "/path?from=uveits&to=AS", "/rules/AmorCriteria?open=all"]


@pytest.mark.parametrize("width", [390, 1400])
def test_no_page_has_a_serious_or_critical_accessibility_violation(base, browser, shots, width):
    """axe-core on every page at both widths; details opened first, so what a click shows is checked too."""
    source = _axe_source()
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)  # to inject axe only
    page = context.new_page()
    found: dict[str, list[str]] = {}
    for path in AXE_PAGES:
        response = page.goto(base + path)
        if response is None or response.status == 404:
            continue
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        page.add_script_tag(content=source)
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        bad = [f"{v['id']} ({v['impact']}, {len(v['nodes'])}): {v['nodes'][0]['target']}"
               for v in result["violations"] if v["impact"] in ("serious", "critical")]
        if bad:
            found[path] = bad
    context.close()
    assert found == {}


@pytest.mark.parametrize("width", [390, 1400])
def test_a_criterion_prints_every_branch(base, browser, shots, width):
    """The ASAS arms are joined by a drawn 'or'; printing opens every folded branch, and closes them after."""
    page, problems = _watched(browser, base, width)
    page.goto(base + "/rules/AsasAxialSpaCriteria")
    top = page.locator("h2", has_text="Items").locator("xpath=following-sibling::ul[1]")
    assert top.locator(":scope > li.joiner").all_inner_texts() == ["OR"]  # drawn in capitals by the stylesheet
    folded = page.locator("details:not([open])").count()
    assert folded > 0
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert page.locator("details:not([open])").count() == 0
    page.emulate_media(media="print")
    if width == 1400:
        page.pdf(path=str(shots / "rule.pdf"))
    page.emulate_media(media="screen")
    page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    assert page.locator("details:not([open])").count() == folded
    page.screenshot(path=str(shots / f"{width}-rule.png"), full_page=True)
    assert problems == []


@pytest.mark.parametrize("width", [390, 1400])
def test_a_teaching_case_works_without_javascript(base, browser, shots, width):
    """Predict, reveal, follow a what-if: plain forms and links, with scripts off."""
    context = browser.new_context(viewport={"width": width, "height": 900}, java_script_enabled=False)
    page = context.new_page()
    page.goto(base + "/cases")
    page.get_by_role("link", name="Young woman, classic inflammatory back pain", exact=False).click()
    page.wait_for_url("**/cases/classic-ibp-non-radiographic")
    page.locator("label.choice", has=page.get_by_label("ASAS expert criteria for inflammatory back pain: met")).click()
    page.get_by_label("modified New York criteria for ankylosing spondylitis: met", exact=True).check()
    page.screenshot(path=str(shots / f"{width}-case-predict.png"))
    page.get_by_role("button", name="Reveal the answers").click()
    page.wait_for_url("**reveal=1*")
    assert "1 of 2" in page.locator("p.summary").inner_text()
    page.screenshot(path=str(shots / f"{width}-case-reveal.png"), full_page=True)
    page.get_by_role("link", name="What if HLA-B27 positive were absent?").click()
    page.wait_for_url("**/assess?*")
    assert page.get_by_label("HLA-B27 positive: no", exact=True).is_checked()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    context.close()


OVERLAPS = """() => {
  const cy = document.getElementById('graph').spakg;
  const boxes = cy.nodes(':visible').map(n => n.boundingBox({includeLabels: true, includeOverlays: false}));
  let overlaps = 0;
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i], b = boxes[j];
    if (a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2) overlaps++;
  }
  return overlaps;
}"""


@pytest.mark.parametrize("width", [390, 1400])
def test_a_crowded_neighbourhood_is_capped_filtered_and_never_overlaps(base, browser, shots, width):
    """Inflammatory back pain has 29 neighbours: twelve at first in rows, 'show more' for the rest, a checkbox per
    relation, and no node's label over another's."""
    page, problems = _watched(browser, base, width)
    page.goto(base + "/concepts/InflammatoryBackPain")
    more = page.locator("#graph-more button")
    more.wait_for()
    graph = page.locator("#graph")
    first = int(graph.get_attribute("data-nodes"))
    assert first == 13  # the concept and twelve neighbours
    assert page.evaluate(OVERLAPS) == 0
    more.click()
    assert int(graph.get_attribute("data-nodes")) == 25 and page.evaluate(OVERLAPS) == 0
    graph.screenshot(path=str(shots / f"{width}-graph-more.png"))
    page.get_by_label("is a kind of", exact=False).uncheck()
    fewer = int(graph.get_attribute("data-nodes"))
    assert fewer < 25 and page.evaluate(OVERLAPS) == 0
    page.get_by_label("is a kind of", exact=False).check()
    assert int(graph.get_attribute("data-nodes")) == 25
    assert problems == []
