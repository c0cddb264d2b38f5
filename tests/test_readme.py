"""The README stays true: its curl example runs as copied and answers what it shows, its Turtle is readable patient
facts, every option it shows exists, and every error code the service can send is in its table."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support import running_server

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)


def blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCKS if lang == language]


def test_the_curl_example_runs_as_copied_and_answers_what_the_readme_shows():
    [example] = [b for b in blocks("sh") if "curl" in b and "/graphql" in b]
    [shown] = [b for b in blocks("json") if '"inferences"' in b]
    with running_server("--log-level", "warning") as base:
        run = subprocess.run(["bash", "-c", example.replace("localhost:8000", base.removeprefix("http://"))],
                             capture_output=True, text=True, timeout=60)
    answer = json.loads(run.stdout)
    assert "errors" not in answer
    got = {i["rule"]["id"]: i["explanation"]["summary"] for i in answer["data"]["assess"]["inferences"]}
    for rule, summary in re.findall(r'"id": "(\w+)"}, "explanation": \{"summary": "(.*?)"}}', shown):
        assert got.get(rule) == summary, rule


def test_the_turtle_examples_are_readable_patient_facts(knowledge):
    patients = [b for b in blocks("turtle") if "pt:Patient" in b]
    assert patients
    prefixes = "@prefix pt: <https://w3id.org/spakg/patient/> .\n@prefix spakg: <https://w3id.org/spakg/> .\n"
    for body in patients:
        [facts] = knowledge.patients_from_rdf(prefixes + body, "turtle")
        assert facts.findings


def _options(command: str) -> set[str]:
    text = subprocess.run([sys.executable, "-m", "spakg.cli", command, "--help"], capture_output=True, text=True,
                          timeout=60).stdout
    return set(re.findall(r"--[a-z][a-z-]+", text))


@pytest.mark.parametrize("line", [line for b in blocks("sh") for line in b.splitlines() if line.startswith("spakg ")])
def test_every_command_line_shown_uses_options_that_exist(line):
    command = line.split()[1]
    shown = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", line.split("#")[0]))
    assert shown <= _options(command), shown - _options(command)


def test_every_error_code_the_service_sends_is_documented():
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "server" / "spakg").rglob("*.py"))
    codes = set(re.findall(r'code = "([A-Z_]+)"', sources))
    codes |= set(re.findall(r'(?:Refused|SparqlError|HookError|_error|error_body)\([^)]*?"([A-Z][A-Z_]{3,})"', sources, flags=re.S))
    codes |= set(re.findall(r'"code": "([A-Z][A-Z_]{3,})"', sources))
    codes |= set(re.findall(r'code = "([A-Z][A-Z_]{3,})" if ', sources))
    # the base class's placeholder, a success in the request log, and errors of the command line only
    codes -= {"SPAKG_ERROR", "OK", "ONTOLOGY_ERROR", "REGRESS_FAILED"}
    table = README[README.index("| code | when |"):]
    missing = {c for c in codes if f"`{c}`" not in table}
    assert len(codes) > 20 and missing == set()
