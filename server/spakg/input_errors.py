"""Where in a patient file reading failed, and what to do about it: one line naming the line, the column and the fix.

The JSON readers (orjson, json) and rdflib's Turtle parser each say where they stopped in their own way; the command
line and the RDF patient-fact reader turn that into ``line L, column C: what went wrong; what to write instead``.
"""

from __future__ import annotations

import json
import re

from .errors import InvalidFacts

JSON_FIXES = (  # (words of the parser's message, what to write instead)
    ("trailing comma", "remove the comma before the closing ] or }"),
    ("key must be a string", 'put each key in double quotes: {"concept": "BackPain"}'),
    ("property name enclosed in double quotes", 'put each key in double quotes: {"concept": "BackPain"}'),
    ("unexpected end", "the text ends early: close every { and [ it opens"),
    ("eof", "the text ends early: close every { and [ it opens"),
    ("unterminated string", 'close the string with a double quote "'),
    ("invalid string", 'write strings in double quotes, with \\" for a quote inside one'),
    ("expected ','", "separate the items of a list or object with commas"),
    ("delimiter", "separate the items of a list or object with commas"),
)
JSON_FIX = "write standard JSON (double-quoted keys and strings, no trailing comma, no comments)"
RDF_FIX = ("end each statement with ' .', separate a finding's properties with ' ;', and declare every prefix "
           "(@prefix pt: <https://w3id.org/spakg/patient/> .)")


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def location(line: int | None, column: int | None = None) -> str:
    if line is None:
        return ""
    return f"line {line}, column {column}" if column is not None else f"line {line}"


def json_error(err: json.JSONDecodeError, first_line: int = 1) -> InvalidFacts:
    """An InvalidFacts for a JSON text that does not parse; ``first_line`` is the file line the text began on (JSON
    lines: the line of the record)."""
    what = one_line(err.msg)
    fix = next((f for words, f in JSON_FIXES if words in what.lower()), JSON_FIX)
    if err.pos == 0 and first_line == 1:
        fix = ('the file is not JSON: a patient is {"findings": [...]} (a list of them, or one per line), or Turtle '
               "in a .ttl file, JSON-LD in a .jsonld file")
    line = first_line + err.lineno - 1
    return InvalidFacts(f"{location(line, err.colno)}: not valid JSON ({what}); {fix}.", line=line, column=err.colno)


def rdf_error(err: Exception, fmt: str) -> InvalidFacts:
    """An InvalidFacts for RDF patient facts rdflib cannot parse, naming the line (and column where it is known)."""
    if isinstance(err, json.JSONDecodeError):  # JSON-LD that is not JSON
        return json_error(err)
    line = column = None
    lines = getattr(err, "lines", None)  # rdflib's Turtle parser: the number of lines before the error
    if isinstance(lines, int):
        line = lines + 1
        text, at = getattr(err, "_str", None), getattr(err, "_i", None)
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if isinstance(text, str) and isinstance(at, int):
            column = at - text.rfind("\n", 0, at)
    why = getattr(err, "_why", None) or re.sub(r"^at line \d+ of <[^>]*>:\s*", "", one_line(err))
    where = f"{location(line, column)}: " if line is not None else ""
    return InvalidFacts(f"{where}cannot read the patient facts as {fmt} ({one_line(why)}); {RDF_FIX}.",
                        line=line, column=column)


__all__ = ["JSON_FIX", "RDF_FIX", "json_error", "location", "one_line", "rdf_error"]
