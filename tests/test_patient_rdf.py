"""Patient facts sent as RDF are checked against the patient-fact shapes (ontology/shapes.ttl) and read strictly:
a malformed fact is refused with what to fix, never guessed at."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from spakg.assessment import Assessment
from spakg.errors import InvalidFacts, InvalidValue

HEAD = "@prefix pt: <https://w3id.org/spakg/patient/> . @prefix spakg: <https://w3id.org/spakg/> .\n"


def turtle(*findings: str) -> str:
    return HEAD + '[] a pt:Patient ; pt:id "p1" ; pt:hasFinding ' + ", ".join(f"[ {f} ]" for f in findings) + " .\n"


def test_a_word_for_a_boolean_is_refused_not_read_as_present(knowledge):
    data = turtle("pt:concept spakg:BackPain", 'pt:concept spakg:NightPain ; pt:present "no"')
    with pytest.raises(InvalidValue, match="'present' must be true or false"):
        knowledge.facts.patients_from_rdf(data, "turtle")  # the reader alone refuses it
    with pytest.raises(InvalidFacts) as err:
        knowledge.patients_from_rdf(data, "turtle")  # and the shapes say where
    assert "pt:Patient 'p1' (pt:hasFinding)" in err.value.message
    assert "pt:present: Value is not Literal with datatype xsd:boolean" in err.value.message


def test_two_concepts_on_one_finding_are_refused_not_one_picked(knowledge):
    data = turtle("pt:concept spakg:NightPain, spakg:MorningStiffness")
    with pytest.raises(InvalidFacts, match="pt:concept: More than 1 values"):
        knowledge.patients_from_rdf(data, "turtle")


def test_decimal_quantities_are_numbers(knowledge):
    [facts] = knowledge.patients_from_rdf(turtle("pt:concept spakg:BackPain ; pt:durationMonths 18.5 ; pt:ageAtOnset 27"),
                                          "turtle")
    [back_pain] = facts.findings
    assert back_pain.quantities == {"durationMonths": 18.5, "ageAtOnset": 27.0}
    slot = knowledge.facts.quantities.slot("durationMonths", knowledge.facts.index["BackPain"])
    assert facts.quantities[slot] == (18.5, 18.5)


def test_well_formed_rdf_gives_the_same_assessment_as_json(knowledge):
    findings = [{"concept": "BackPain", "ageAtOnset": 27, "durationMonths": 18}, {"concept": "InsidiousOnset"},
                {"concept": "ImprovementWithRest", "present": False}]
    [via_rdf] = knowledge.patients_from_rdf(turtle(
        "pt:concept spakg:BackPain ; pt:ageAtOnset 27 ; pt:durationMonths 18", "pt:concept spakg:InsidiousOnset",
        "pt:concept spakg:ImprovementWithRest ; pt:present false"), "turtle")
    assert Assessment(knowledge, via_rdf).statuses == Assessment(knowledge, knowledge.facts.patient(findings)).statuses


def test_cli_assess_refuses_malformed_turtle_with_a_coded_error(tmp_path):
    path = tmp_path / "p.ttl"
    path.write_text(turtle('pt:concept spakg:BackPain ; pt:ageAtOnset "twenty"'), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "spakg.cli", "assess", str(path)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.startswith("error [INVALID_FACTS]") and "pt:ageAtOnset" in run.stderr


def test_cli_assess_reads_turtle_from_stdin_by_its_content(knowledge):
    turtle = """@prefix pt: <https://w3id.org/spakg/patient/> . @prefix spakg: <https://w3id.org/spakg/> .
[] a pt:Patient ; pt:id "p1" ; pt:age 28 ; pt:hasFinding [ pt:concept spakg:BackPain ; pt:ageAtOnset 27 ] ."""
    run = subprocess.run([sys.executable, "-m", "spakg.cli", "assess", "-", "--detail", "outcomes"], input=turtle,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["id"] == "p1"
