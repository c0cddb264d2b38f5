"""The command line's answer to input it cannot use: one line on stderr naming the file, where in it (line, column or
record) and what to write instead, exit status 2, never a traceback; a port already taken is said before anything
loads, with the option that picks another."""

from __future__ import annotations

import socket
import subprocess

import pytest

from support import free_port, spakg

PATIENT = '{"findings": [{"concept": "BackPain", "ageAtOnset": 27}]}'
CASES = [  # (file name, content, words the one line must hold); patients before the error are answered (streamed)
    ("trailing.json", '{"age": 28,\n "findings": [\n   {"concept": "BackPain"},\n ]}\n',
     ["trailing.json: line 3, column", "trailing comma", "remove the comma"]),
    ("words.json", "back pain since 27, better with exercise\n",
     ["words.json: line 1, column 1", "not valid JSON", "the file is not JSON"]),
    ("missing-comma.json", '{\n  "findings": [\n    {"concept": "BackPain"}\n    {"concept": "InsidiousOnset"}\n  ]\n}\n',
     ["missing-comma.json: line 4, column 5", "separate the items"]),
    ("cohort.jsonl", f"{PATIENT}\n\n{PATIENT}\n{{\"findings\": [}}\n",
     ["cohort.jsonl: line 4, column", "not valid JSON"]),
    ("unknown.jsonl", f'{PATIENT}\n{{"findings": [{{"concept": "BackAche"}}]}}\n',
     ["[UNKNOWN_CONCEPT]", "unknown.jsonl, line 2: ", "BackAche"]),
    ("list.json", f'[{PATIENT}, {{"findings": [{{"concept": "BackPain", "present": "yes"}}]}}]',
     ["list.json, line 1, record 2: ", "must be true or false"]),
    ("broken.ttl", "@prefix pt: <https://w3id.org/spakg/patient/> .\n\n[] a pt:Patient ;\n  pt:age 28\n] .\n",
     ["broken.ttl: line 5, column", "as turtle", "end each statement with ' .'"]),
    ("latin1.json", '{"findings": [{"concept": "R\xe9sum\xe9"}]}',
     ["latin1.json: not UTF-8 text", "save it as UTF-8"]),
]


@pytest.mark.parametrize(("name", "content", "words"), CASES, ids=[c[0] for c in CASES])
def test_a_file_that_cannot_be_read_is_one_line_naming_where_and_the_fix(tmp_path, name, content, words):
    (tmp_path / name).write_bytes(content.encode("latin-1" if name == "latin1.json" else "utf-8"))
    run = subprocess.run(spakg("assess", name), capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    before = {"cohort.jsonl": 2, "unknown.jsonl": 1, "list.json": 1}.get(name, 0)
    assert len(run.stdout.splitlines()) == before
    [line] = run.stderr.splitlines()
    assert line.startswith("error [") and all(w in line for w in words), line


@pytest.mark.parametrize("path", ["no-such-patient.json", "."])
def test_a_path_that_is_not_a_readable_file_is_one_line(tmp_path, path):
    run = subprocess.run(spakg("assess", path), capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    [line] = run.stderr.splitlines()
    assert line.startswith(f"error: {path}: ") and line.endswith(".")


def test_a_taken_port_is_said_plainly_with_the_option_that_picks_another(tmp_path):
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        run = subprocess.run(spakg("serve", "--port", str(port)), capture_output=True, text=True, timeout=120,
                             cwd=tmp_path)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    [line] = run.stderr.splitlines()
    assert f"127.0.0.1:{port}" in line and "already in use" in line and f"--port {port + 1}" in line
    assert "spakg serving" not in run.stderr  # nothing claims to serve


def test_output_piped_into_head_ends_quietly(tmp_path):
    """`spakg assess cohort.jsonl --detail outcomes | head -1`: the reader closing the pipe is not an error."""
    import json
    import sys

    cohort = tmp_path / "cohort.jsonl"
    cohort.write_text("".join(json.dumps({"id": f"p{i}", "findings": [{"concept": "BackPain"}]}) + "\n"
                              for i in range(3000)), encoding="utf-8")
    proc = subprocess.run(f"{sys.executable} -m spakg.cli assess {cohort} --detail outcomes | head -1",
                          shell=True, capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          executable="/bin/bash")
    assert proc.returncode == 0 and proc.stdout.count("\n") == 1
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr[-500:]
