"""The codes spakg reads, as FHIR R4 ValueSets: what an integrator checks a record against before sending it.

One ValueSet per observable concept (the codes that state it: the value sets' ``fx:CodeMapping``s and the concepts'
cross-references, and spakg's own code), per laboratory result spakg reads (``lab-``: the LOINC codes of one number
or one finding), per qualitative result (``result-positive`` / ``result-negative``) and per investigation an order is
suggested for (``order-``). Everything comes from the ontology's code book; nothing here names a code.

Each included code carries two extensions: how close it is (``exact``: read present and absent; ``narrower``: the
code is narrower than the concept, so it is read as present only) and where it was verified. A code read with its
descendants is an ``is-a`` filter (ICD-10: M45.0 and every code below it). Codes spakg knows but does not read (a
broader or only close match) are listed under ``compose.exclude``, so that it is plain they are not.
"""

from __future__ import annotations

from collections import defaultdict

from ..knowledge import Knowledge
from .codes import CodeBook, ConceptCode

BASE = "https://w3id.org/spakg/fhir"
MATCH_EXTENSION = f"{BASE}/StructureDefinition/match"
VERIFIED_EXTENSION = f"{BASE}/StructureDefinition/verified-in"
MATCH_CODES = {"EXACT": "exact", "NARROW": "narrower", "BROAD": "broader", "CLOSE": "close"}

_built: dict[str, dict[str, dict]] = {}  # ontology content hash -> its value sets by id (built once per ontology)


def value_sets(knowledge: Knowledge) -> dict[str, dict]:
    """Every ValueSet, by id, for this ontology."""
    found = _built.get(knowledge.content_hash)
    if found is None:
        found = _built[knowledge.content_hash] = _build(knowledge)
        if len(_built) > 4:  # a --watch reload builds a new set; keep only the recent ones
            _built.pop(next(iter(_built)))
    return found


def _build(k: Knowledge) -> dict[str, dict]:
    book = k.fhir.codes
    out: dict[str, dict] = {}
    by_concept: dict[str, list[tuple[str, ConceptCode]]] = defaultdict(list)
    for (system, _code), mapped in book.concepts.items():
        for m in mapped:
            by_concept[m.concept.id].append((system, m))
    for concept in sorted((c for c in k.concepts.by_id.values() if c.observable), key=lambda c: c.id):
        entries = [(system, m, _code_of(book, system, m)) for system, m in by_concept.get(concept.id, [])]
        read = [(s, m, c) for s, m, c in entries if m.states_presence]
        loose = [(s, m, c) for s, m, c in entries if not m.states_presence]
        out[concept.id] = _value_set(
            k, concept.id, f"Codes that state {concept.label}",
            f"The codings spakg reads as '{concept.label}' (spakg:{concept.id}) in a Condition or Observation: exact "
            f"codes present or absent (a refuted Condition, a negative result), narrower codes present only.",
            _includes(book, read), _includes(book, loose))
    labs: dict[str, list] = defaultdict(list)
    for (system, code), lab in book.labs.items():
        labs[lab.quantity or (lab.states.id if lab.states else lab.id)].append((system, code, lab))
    for name, tests in sorted(labs.items()):
        states = next((lab.states for *_, lab in tests if lab.states), None)
        what = f"the number {name}" if any(lab.quantity for *_, lab in tests) else "a result"
        also = f" and whether '{states.label}' holds (the laboratory's flag or reference range)" if states else ""
        out[f"lab-{name}"] = _value_set(
            k, f"lab-{name}", f"Laboratory tests spakg reads for {name}",
            f"Observations with one of these codes give {what}{also}.",
            _grouped((system, code, lab.label, "EXACT", lab.verified_in) for system, code, lab in tests), [])
    for present, word in ((True, "positive"), (False, "negative")):
        codes = [r for r in book.result_codes if r.present is present]
        keys = {(s, c): v for (s, c), v in book.results.items() if v is present}
        rows = []
        for (system, code) in sorted(keys):
            meta = next((r for r in codes if r.code.endswith(f":{code}")), None)
            rows.append((system, code, meta.label if meta else code, "EXACT", meta.verified_in if meta else None))
        out[f"result-{word}"] = _value_set(
            k, f"result-{word}", f"Qualitative results read as {word}",
            f"A valueCodeableConcept with one of these codes says a test is {word}.", _grouped(rows), [])
    for investigation, orders in sorted(book.orders.items()):
        label = k.concepts.get(investigation).label if k.concepts.get(investigation) else investigation
        rows = [(o.system, o.code, o.display, "EXACT", o.verified_in) for o in orders]
        if book.own_system:
            rows.append((book.own_system, investigation, label, "EXACT", None))
        out[f"order-{investigation}"] = _value_set(
            k, f"order-{investigation}", f"Codes spakg orders {label} with",
            f"A suggested ServiceRequest for {label} carries these codings.", _grouped(rows), [])
    return out


def _code_of(book: CodeBook, system: str, m: ConceptCode) -> str:
    """The code as FHIR writes it (the prefix of the cross-reference off, the system's template applied)."""
    _, template = book.systems.get(system, ("", "{code}"))
    local = m.code.split(":", 1)[1] if ":" in m.code else m.code
    return template.replace("{code}", local)


def _includes(book: CodeBook, entries: list[tuple[str, ConceptCode, str]]) -> list[dict]:
    plain = [(s, c, m.display, m.match, m.verified_in) for s, m, c in entries if not m.descendants]
    out = _grouped(plain)
    for system, m, code in sorted((e for e in entries if e[1].descendants), key=lambda e: (e[0], e[2])):
        out.append({"system": system, "filter": [{"property": "concept", "op": "is-a", "value": code,
                                                  "extension": _extensions(m.match, m.verified_in)}]})
    return out


def _grouped(rows) -> list[dict]:
    """(system, code, display, match, verified) rows as compose.include entries, one per system."""
    systems: dict[str, dict[str, dict]] = defaultdict(dict)
    for system, code, display, match, verified in rows:
        entry = {"code": code, **({"display": display} if display else {}), "extension": _extensions(match, verified)}
        systems[system].setdefault(code, entry)
    return [{"system": s, "concept": [codes[c] for c in sorted(codes)]} for s, codes in sorted(systems.items())]


def _extensions(match: str, verified: str | None) -> list[dict]:
    out = [{"url": MATCH_EXTENSION, "valueCode": MATCH_CODES.get(match, match.lower())}]
    if verified:
        out.append({"url": VERIFIED_EXTENSION, "valueString": verified})
    return out


def _value_set(k: Knowledge, vid: str, title: str, description: str, include: list[dict], exclude: list[dict]) -> dict:
    compose: dict = {"include": include}  # never empty: a concept has at least spakg's own code
    if exclude:
        compose["exclude"] = exclude
    return {
        "resourceType": "ValueSet", "id": vid, "url": f"{BASE}/ValueSet/{vid}", "version": k.version,
        "name": "".join(part[:1].upper() + part[1:] for part in vid.replace("-", " ").split()),
        "title": title, "status": "active", "experimental": False, "publisher": "spakg",
        "description": description, "compose": compose,
    }
