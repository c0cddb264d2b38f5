"""Issue 5: `spakg serve --watch` over real HTTP. A good edit of the ontology takes effect; a broken edit is refused,
the last good version keeps serving, and the refusal is logged and reported in `ontology { lastReloadError }`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from support import free_port, gql

# 4 of the 5 ASAS IBP items: MET at the published threshold (4), NOT_MET if it were 5
PATIENT = {"id": "w1", "findings": [
    {"concept": "BackPain", "ageAtOnset": 27, "durationMonths": 18}, {"concept": "InsidiousOnset"},
    {"concept": "ImprovementWithExercise"}, {"concept": "NightPainImprovesOnGettingUp"}, {"concept": "ImprovementWithRest"}]}
STATE = """query($p: PatientInput!) {
  ontology { contentHash lastReloadError }
  rule(id: "AsasIbpCriteria") { threshold }
  assess(patient: $p) { ontologyVersion ontologyHash inferences { rule { id } status } }
}"""


def state(base: str) -> dict:
    result = gql(base, STATE, {"p": PATIENT})
    assert "errors" not in result, result
    data = result["data"]
    data["asasIbp"] = next(i["status"] for i in data["assess"]["inferences"] if i["rule"]["id"] == "AsasIbpCriteria")
    return data


def wait_for(condition: Callable[[], dict | None], what: str, timeout: float = 45) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def watched(ontology_copy):
    port = free_port()
    log = ontology_copy.parent / "serve.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "spakg.cli", "serve", "--watch", "--ontology", str(ontology_copy),
                                 "--port", str(port)], stdout=sink, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        base = f"http://127.0.0.1:{port}"

        def up() -> dict | None:
            try:
                return httpx.get(base + "/healthz", timeout=1).json()
            except httpx.HTTPError:
                return None

        try:
            wait_for(up, "the server to start")
            yield base, ontology_copy, log
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def test_good_edit_takes_effect_bad_edit_is_refused_and_the_old_version_keeps_serving(watched):
    base, ontology, log = watched
    rules = ontology / "rules.ttl"
    first = state(base)
    assert first["rule"]["threshold"] == 4 and first["asasIbp"] == "MET"
    assert first["assess"]["ontologyHash"] == first["ontology"]["contentHash"]

    # a good edit: the ASAS IBP threshold raised to 5 is served, and assessments name the new hash
    edit(rules, "rule:threshold 4 ;", "rule:threshold 5 ;")
    second = wait_for(lambda: (s := state(base))["rule"]["threshold"] == 5 and s, "the good edit to be served")
    assert second["asasIbp"] == "NOT_MET" and second["ontology"]["lastReloadError"] is None
    assert second["assess"]["ontologyHash"] == second["ontology"]["contentHash"] != first["ontology"]["contentHash"]

    # a broken edit (no patient could reach 9 of 5): refused, the threshold-5 version keeps serving
    edit(rules, "rule:threshold 5 ;", "rule:threshold 9 ;")
    third = wait_for(lambda: (s := state(base))["ontology"]["lastReloadError"] and s, "the broken edit to be refused")
    assert "no patient could meet it" in third["ontology"]["lastReloadError"]
    assert third["rule"]["threshold"] == 5 and third["asasIbp"] == "NOT_MET"
    assert third["assess"]["ontologyHash"] == second["ontology"]["contentHash"]
    assert "no patient could meet it" in httpx.get(base + "/healthz").json()["lastReloadError"]

    # a syntax error is refused the same way
    edit(rules, "rule:threshold 9 ;", "rule:threshold 5 ;;; ]")
    fourth = wait_for(lambda: (s := state(base))["ontology"]["lastReloadError"].startswith("not fit to serve")
                      and "[turtle] rules.ttl" in s["ontology"]["lastReloadError"] and s, "the syntax error to be refused")
    assert fourth["assess"]["ontologyHash"] == second["ontology"]["contentHash"]

    # the edit put right: served again, the error cleared
    edit(rules, "rule:threshold 5 ;;; ]", "rule:threshold 5 ;")
    fifth = wait_for(lambda: (s := state(base))["ontology"]["lastReloadError"] is None and s, "the repaired edit")
    assert fifth["ontology"]["contentHash"] == second["ontology"]["contentHash"]

    health = httpx.get(base + "/healthz").json()
    assert health["watching"] is True and health["reloads"] == 2 and health["refusedEdits"] == 2
    text = log.read_text(encoding="utf-8")
    assert text.count("ontology reloaded") == 2 and text.count("ontology edit refused") == 2
    assert "fix: Lower rule:threshold to at most 5, or add items." in text


def test_serve_watch_refuses_to_start_on_a_broken_ontology(ontology_copy):
    edit(ontology_copy / "rules.ttl", "rule:threshold 4 ;", "rule:threshold 9 ;")
    run = subprocess.run([sys.executable, "-m", "spakg.cli", "serve", "--watch", "--ontology", str(ontology_copy),
                          "--port", str(free_port()), "--skip", "hermit"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "not fit to serve" in run.stderr and "no patient could meet it" in run.stderr


def test_skip_without_watch_is_a_usage_error():
    run = subprocess.run([sys.executable, "-m", "spakg.cli", "serve", "--skip", "hermit"], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2 and "only goes with --watch" in run.stderr


def test_a_directory_deleted_and_made_again_is_still_watched_and_errors_show_no_server_path(watched):
    base, ontology, _log = watched
    saved = ontology.parent / "saved"
    shutil.copytree(ontology, saved)
    shutil.rmtree(ontology)
    time.sleep(1.5)
    shutil.copytree(saved, ontology)  # a new directory (new inode) with the same content
    edit(ontology / "rules.ttl", "rule:threshold 4 ;", "rule:threshold 5 ;")
    wait_for(lambda: (s := state(base))["rule"]["threshold"] == 5 and s, "the edit in the new directory to be served")
    edit(ontology / "rules.ttl", "rule:threshold 5 ;", "rule:threshold 5 ;;; ]")
    refused = wait_for(lambda: (s := state(base))["ontology"]["lastReloadError"] and s, "the broken edit to be refused")
    error = refused["ontology"]["lastReloadError"]
    assert str(ontology.parent) not in error and "rules.ttl" in error
    assert str(ontology.parent) not in json.dumps(httpx.get(base + "/healthz").json())
