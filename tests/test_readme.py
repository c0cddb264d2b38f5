"""The README stays true: its set-up commands and every command line run as copied (smaller sizes and free ports
where it says so) and do what they say, its curl example answers what it shows, its Turtle is readable patient facts,
every option it shows exists, and every error code the service can send is in its table."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from support import free_port

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)


def blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCKS if lang == language]


def test_the_curl_example_runs_as_copied_and_answers_what_the_readme_shows(served):
    [example] = [b for b in blocks("sh") if "curl" in b and "/graphql" in b]
    [shown] = [b for b in blocks("json") if '"inferences"' in b]
    run = subprocess.run(["bash", "-c", example.replace("localhost:8000", served.removeprefix("http://"))],
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


TOP = blocks("sh")[0].splitlines()
COMMANDS = [line for b in blocks("sh") for line in b.splitlines() if line.startswith("spakg ")]
SYNOPSES = [line for b in blocks("text") for line in b.splitlines() if line.startswith("spakg ")]
SMALLER = ((r"--n \d+", "--n 40"), (r"--minutes \d+", "--minutes 0.1"),
           (r"^spakg bench(?= +#|$)", "spakg bench --patients 300 --baseline-patients 1 --hermit-patients 1"))
ROUTES = ("explorer", "/graphql", "/sparql", "/cds-services")


def as_run(line: str, port: int) -> str:
    """The line as the test runs it: smaller sizes, a free port for the commands that listen."""
    for pattern, smaller in SMALLER:
        line = re.sub(pattern, smaller, line)
    if line.startswith(("spakg serve", "spakg soak")):
        line = re.sub(r"--port \d+", f"--port {port}", line) if "--port" in line.split("#")[0] else \
            re.sub(r"^spakg (serve|soak)", rf"spakg \1 --port {port}", line)
    return line


def activated(line: str) -> list[str]:
    """bash running the line after the README's activation line, in the venv running these tests."""
    venv = Path(sys.prefix)
    activate = venv / "bin" / "activate"
    assert activate.is_file() and (venv / "bin" / "spakg").is_file(), "run the tests from the README's venv"
    [how] = [t.split("#")[0].strip() for t in TOP if t.startswith(". ") and "activate" in t]
    return ["bash", "-c", f"{how.replace('.venv', str(venv))} && exec {line}"]


@pytest.fixture(scope="module")
def files(tmp_path_factory, knowledge) -> Path:
    """A directory holding the files the command lines name: the README's own patients, a hand-written FHIR Bundle, a
    synthetic cohort and Bundles (made here, so each line runs on its own, in any order and on any worker)."""
    from spakg.synth import write_cohort

    here = tmp_path_factory.mktemp("readme")
    [curl] = [b for b in blocks("sh") if "curl" in b and "/graphql" in b]
    patient = json.loads(curl[curl.index("<<'EOF'\n") + 8:curl.rindex("EOF")])["variables"]["p"]
    (here / "patient.json").write_text(json.dumps(patient), encoding="utf-8")
    (here / "cohort.jsonl").write_text("".join(json.dumps({**patient, "id": f"p{i}"}) + "\n" for i in range(3)),
                                       encoding="utf-8")
    [turtle] = [b for b in blocks("turtle") if "pt:Patient" in b]
    (here / "patient.ttl").write_text("@prefix pt: <https://w3id.org/spakg/patient/> .\n"
                                      "@prefix spakg: <https://w3id.org/spakg/> .\n" + turtle, encoding="utf-8")
    shutil.copy(ROOT / "tests" / "fhir" / "established-ankylosing-spondylitis.json", here / "bundle.json")
    write_cohort(knowledge, 40, str(here / "cohort.parquet"))
    write_cohort(knowledge, 10, str(here / "bundles"), fhir="bundles")
    (here / "reports").mkdir()
    from joserfc.jwk import ECKey, KeySet  # the EHR's public keys, as --cds-trust ISSUER=JWKS-FILE reads them

    ehr = ECKey.generate_key("P-384", parameters={"kid": "ehr-1"}, private=True)
    (here / "ehr-jwks.json").write_text(json.dumps(KeySet([ehr]).as_dict(private=False)), encoding="utf-8")
    return here


def test_the_readme_says_how_to_put_spakg_on_the_path_after_the_two_set_up_commands():
    assert TOP[0].startswith("python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/spakg serve")
    assert TOP[1].startswith('python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/python -m pytest')
    assert TOP[2].startswith(". .venv/bin/activate ")
    assert len(COMMANDS) > 15


def command_id(line: str) -> str:
    return line.split("#")[0].strip()


@pytest.mark.parametrize("line", [c for c in COMMANDS if c.startswith("spakg serve")], ids=command_id)
def test_each_serve_line_serves_and_says_where(files, line):
    port = free_port()
    log = files / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(activated(as_run(line, port)), cwd=files, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            deadline = time.time() + 180  # --watch runs every check first
            while proc.poll() is None and time.time() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            assert proc.poll() is None, log.read_text(encoding="utf-8")
            assert httpx.get(f"http://127.0.0.1:{port}/", headers={"accept": "text/html"}, timeout=30).status_code == 200
            if "--reports" in line:
                assert httpx.get(f"http://127.0.0.1:{port}/cohorts", timeout=30).status_code == 200
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    [start] = [t for t in log.read_text(encoding="utf-8").splitlines() if t.startswith("spakg serving")]
    assert all(route in start for route in ROUTES) and f"127.0.0.1:{port}/" in start


# what each line must leave behind (besides exit status 0 and no traceback)
OUTPUTS = {"--report-html report.html": "report.html", "--report-json reports/bundles.json": "reports/bundles.json",
           "--out bundles --fhir ": "bundles", "--fhir bulk": "export/Patient.ndjson", "--out cohort.parquet": "cohort.parquet"}
MAY_EXIT_1 = ("spakg soak", "spakg regress")  # a broken promise, a moved outcome: their own tests hold those


@pytest.mark.parametrize("line", [c for c in COMMANDS if not c.startswith("spakg serve")], ids=command_id)
def test_every_other_command_line_runs_as_copied(files, line):
    for made in (files / "results", files / "bundle-results"):
        shutil.rmtree(made, ignore_errors=True)  # spakg screen refuses to write over a directory it did not make
    cwd = ROOT if line.startswith("spakg regress") else files  # regress reads the git history of a checkout
    run = subprocess.run(activated(as_run(line, free_port())), cwd=cwd, capture_output=True, text=True, timeout=600)
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode == 0 or (run.returncode == 1 and line.startswith(MAY_EXIT_1)), run.stderr[-3000:]
    for option, path in OUTPUTS.items():
        if option in line:
            assert (files / path).exists(), path
    if line.startswith("spakg assess") and "--format turtle" not in line:
        assert all("rules" in r or "AsasIbpCriteria" in r for r in map(json.loads, run.stdout.splitlines()))
    if line.startswith("spakg quote"):
        assert "q-begins-gradually" in run.stdout


def test_the_error_the_readme_shows_is_what_a_trailing_comma_gets(tmp_path):
    [shown] = re.findall(r"`(error\s+\[INVALID_FACTS\]: patient\.json: .*?)`", README, flags=re.S)
    (tmp_path / "patient.json").write_text('{"age": 28,\n "findings": [\n   {"concept": "BackPain", "ageAtOnset": 27},\n ]}\n',
                                           encoding="utf-8")
    run = subprocess.run(activated("spakg assess patient.json"), cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and run.stderr.strip() == " ".join(shown.split())


@pytest.mark.slow
def test_the_first_set_up_command_installs_and_serves_on_a_fresh_copy(tmp_path):
    """As a newcomer does: a copy of the checkout, a new venv, the base install, spakg serve (on a free port)."""
    tracked = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    copy = tmp_path / "spakg"
    for name in tracked:
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    port = free_port()
    command = re.sub(r"spakg serve(?= )", f"spakg serve --port {port}", TOP[0])
    log = tmp_path / "setup.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(["bash", "-c", command], cwd=copy, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.time() + 900
            while proc.poll() is None and time.time() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(1)
            assert proc.poll() is None, log.read_text(encoding="utf-8")[-3000:]
            assert httpx.get(f"http://127.0.0.1:{port}/", headers={"accept": "text/html"}, timeout=30).status_code == 200
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=30)
    installed = subprocess.run([str(copy / ".venv" / "bin" / "python"), "-c", "import dask"], capture_output=True)
    assert installed.returncode != 0  # the base install: cohort screening is an extra


def _options(command: str) -> set[str]:
    text = subprocess.run([sys.executable, "-m", "spakg.cli", command, "--help"], capture_output=True, text=True,
                          timeout=60).stdout
    return set(re.findall(r"--[a-z][a-z-]+", text))


@pytest.mark.parametrize("line", COMMANDS + SYNOPSES)
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
    codes -= {"SPAKG_ERROR", "OK", "ONTOLOGY_ERROR", "REGRESS_FAILED", "EXTRA_MISSING"}
    table = README[README.index("| code | when |"):]
    missing = {c for c in codes if f"`{c}`" not in table}
    assert len(codes) > 20 and missing == set()
