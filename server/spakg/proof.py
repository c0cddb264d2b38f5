"""An assessment's proofs as JSON: every rule's outcome, summary and explanation tree down to the facts, and each
disease-activity score worked term by term.

One renderer writes JSON bytes straight from the proof vector: what does not depend on the patient (an item's id,
label, kind, finding, comparisons, notes; a rule's sources) is encoded once per ontology, and only statuses, counts
and the facts that decided each finding are the patient's own. An item that appears in several places (an SpA
feature) is rendered once per patient. A conclusion item refers to the rule whose outcome it takes by id (that
rule's own explanation is in the same list), so nothing is copied. ``assessment_dict`` is the same JSON, parsed.

The writers of each group and of the list of inferences are Python generated once per ontology, like the rules'
decisions (``rules.compiler``): each is one list of parts — fixed bytes, one of an item's few possible entries, a
call for what depends on the facts — and a whole assessment is joined once, at the end.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from .assessment import CLASSIFICATION_NOTE, Assessment, Question, summary_entry
from .provenance import Provenance
from .rules import STATUS_NAMES, ConclusionItem, FindingItem, Group, Item, QuantityItem, Rule
from .scores import score_dict

_STATUS = tuple(name.encode() for name in STATUS_NAMES)
_STATED: dict[tuple[str, bool], bytes] = {}


def provenance_dict(p: Provenance) -> dict:
    return {"source": p.source.id, "quote": p.quote, "start": p.start, "end": p.end,
            "section": p.section, "citation": p.citation}


def values_dict(values: dict[str, tuple[float, float]]) -> dict:
    """A stated number as itself; a number known only within bounds as {"low", "high"}."""
    return {name: lo if lo == hi else {"low": lo, "high": hi} for name, (lo, hi) in values.items()}


def _j(value: object) -> bytes:
    return orjson.dumps(value)


_SMALL = {float(n): repr(float(n)).encode() for n in range(33)}


def _num(value: float) -> bytes:
    found = _SMALL.get(value)
    return found if found is not None else repr(value).encode()  # finite ints and floats: repr is valid JSON


def _templates(item: Item) -> tuple[bytes, bytes]:
    """(before the status, after it): the patient-independent JSON around an item's status, encoded once."""
    found = item.__dict__.get("_json")
    if found is not None:
        return found
    head = b'{"item":' + _j(item.id) + b',"label":' + _j(item.label) + b',"kind":"' + item.kind.encode() + b'"'
    if item.notes:
        head += b',"notes":' + _j(item.notes)
    if isinstance(item, Group):
        head += b',"threshold":' + _num(item.needed) + b',"total":' + _num(item.total_weight)
    tail = b'"'
    if isinstance(item, FindingItem):
        finding = {"concept": item.concept.id, "expects": "present" if item.expects_present else "absent"}  # type: ignore[union-attr]
        if item.comparisons:
            finding["comparisons"] = item.describe_comparisons()
        tail = b'","finding":' + _j(finding)[:-1] + b',"state":"'
    elif isinstance(item, QuantityItem):
        tail = b'","quantity":{"comparisons":' + _j(item.describe_comparisons()) + b',"values":'
    elif isinstance(item, ConclusionItem):
        tail = b'","conclusionOf":' + _j(item.rule.id) + b',"conclusionStatus":"'  # type: ignore[union-attr]
    elif isinstance(item, Group):
        tail = b'","met":'
    found = item.__dict__["_json"] = (head + b',"status":"', tail)
    return found


def _unknown_finding(item: FindingItem) -> bytes:
    """A finding item whose finding nobody stated reads the same for every patient: encoded once."""
    found = item.__dict__.get("_json_unknown")
    if found is None:
        head, tail = _templates(item)
        status = _STATUS[2 if item.accept_unknown else 1]
        found = item.__dict__["_json_unknown"] = b"".join((
            head, status, tail, b'unknown","statedBy":[]', b',"values":{}' if item.comparisons else b"",
            b',"unknownCountsAsMet":true}}' if item.accept_unknown else b"}}"))
    return found


def _stated(concept_id: str, present: bool) -> bytes:
    found = _STATED.get((concept_id, present))
    if found is None:
        found = _STATED[(concept_id, present)] = _j({"concept": concept_id, "present": present})
    return found


def _blank_bits(group: Group) -> int | None:
    """The classes a group's whole rendering depends on (through the rules it reads too), or None when it also
    depends on numbers about the patient. For a patient who knows none of those classes, the group renders the same
    bytes as for every other such patient: its findings are unknown, so its statuses and counts are too."""
    found = group.__dict__.get("_json_blank_bits", False)
    if found is False:
        found = group.__dict__["_json_blank_bits"] = None if group.quantity_items() else group.named_bits
    return found


class _Renderer:
    """One patient's explanation trees as JSON bytes, read from the proof vector."""

    def __init__(self, a: Assessment) -> None:
        self.a = a
        self.statuses = a.proof._statuses
        self.counts = a.proof._counts
        self.facts = a.facts
        self.space = a.knowledge.facts
        self.known_mask = a.facts.present | a.facts.absent
        self.memo: dict[int, bytes] = {}
        self.known: dict[int, bytes] = {}  # a class's state and the facts that gave it, by class index

    # Each entry is one join of its parts: chained ``+`` would copy a group's children once per part.
    def item(self, item: Item) -> bytes:
        found = self.memo.get(item.slot)
        if found is not None:
            return found
        kind = item.kind
        if kind == "FINDING" and not self.known_mask & item.bit:  # type: ignore[attr-defined]
            out = self.memo[item.slot] = _unknown_finding(item)  # type: ignore[arg-type]
            return out
        if kind == "GROUP" or kind == "RULE":  # its generated writer has its own templates and memo entry
            return _group_renderer(item)(self)  # type: ignore[arg-type]
        head, tail = _templates(item)
        status = _STATUS[self.statuses[item.slot]]
        if kind == "FINDING":
            out = b"".join((head, status, tail, self._finding(item)))  # type: ignore[arg-type]
        elif kind == "CONCLUSION":
            out = b"".join((head, status, tail, _STATUS[self.statuses[item.rule.slot]], b'"}'))  # type: ignore[attr-defined]
        else:  # QUANTITY
            out = b"".join((head, status, tail, _j(values_dict(self.a.quantity_values(item))), b"}}"))  # type: ignore[arg-type]
        self.memo[item.slot] = out
        return out

    def _finding(self, item: FindingItem) -> bytes:
        out = self.known.get(item.index)
        if out is None:
            state = b'present","statedBy":[' if self.facts.present & item.bit else b'absent","statedBy":['
            stated = self.space.stated_by(self.facts, item.index, self.a.stated_index)
            out = self.known[item.index] = b"".join((state, b",".join([_stated(f[0].id, f[1]) for f in stated]), b"]"))
        if item.comparisons:
            out += b',"values":' + _j(values_dict(self.a.quantity_values(item)))
        return out + b"}}"

    def inference(self, rule: Rule) -> list[bytes]:
        """A rule's entry, as parts to be joined (``inference_dict``; a whole assessment uses all rules' at once)."""
        return _rule_renderer(rule)(self)


def _group_renderer(group: Group) -> Callable[[_Renderer], bytes]:
    """A function writing a group's entry, generated once per ontology: its fixed bytes, its status and counts, and its
    lists (``_list_code``). A group whose findings the patient knows none of (and that reads no number) writes the
    same bytes for every such patient: kept after the first."""
    found = group.__dict__.get("_json_render")
    if found is not None:
        return found
    head, tail = _templates(group)
    namespace: dict[str, object] = {"NUM": _num, "HS": tuple(head + s + tail for s in _STATUS), "BLANK": [None]}
    n = 2 * group.counts
    parts = [f"HS[S[{group.slot}]]", f"NUM(C[{n}])", "b',\"possible\":'", f"NUM(C[{n + 1}])",
             *_list_code(group.items, namespace, "i", b',"items":[')]
    if group.requires:
        parts += _list_code(group.requires, namespace, "r", b',"requires":[')
    parts.append("b'}'")
    bits = _blank_bits(group)
    blank = f"not K & {bits}" if bits is not None else "False"
    source = (f"def render(R):\n"
              f"    S, C, K, M, item = R.statuses, R.counts, R.known_mask, R.memo, R.item\n"
              f"    blank = {blank}\n"
              f"    if blank and BLANK[0] is not None:\n"
              f"        return BLANK[0]\n"
              f"    out = M[{group.slot}] = b''.join(({', '.join(parts)},))\n"
              f"    if blank:\n"
              f"        BLANK[0] = out\n"
              f"    return out\n")
    found = group.__dict__["_json_render"] = _compile(source, namespace, f"group {group.slot}")
    return found  # type: ignore[return-value]


_INFERENCES: dict[int, tuple[list[Rule], Callable[[_Renderer], list[bytes]]]] = {}


def _inferences_renderer(rules: list[Rule]) -> Callable[[_Renderer], list[bytes]]:
    """Every rule's entry (comma-separated) as the parts of one list, written by one function generated per rule book
    (fewer parts, fewer calls: the whole assessment is joined once)."""
    found = _INFERENCES.get(id(rules))
    if found is not None and found[0] is rules:
        return found[1]
    namespace: dict[str, object] = {"NUM": _num, "SUMMARY": summary_entry}
    parts = [part for n, rule in enumerate(rules) for part in _inference_code(rule, n, namespace)]
    render = _compile_parts(parts, namespace, "inferences")
    if len(_INFERENCES) > 16:  # reloaded ontologies age out
        _INFERENCES.clear()
    _INFERENCES[id(rules)] = (rules, render)
    return render


def _rule_renderer(rule: Rule) -> Callable[[_Renderer], list[bytes]]:
    """One rule's entry, the same way (``inference_dict``)."""
    found = rule.__dict__.get("_json_inference")
    if found is None:
        namespace: dict[str, object] = {"NUM": _num, "SUMMARY": summary_entry}
        found = rule.__dict__["_json_inference"] = _compile_parts(_inference_code(rule, 0, namespace), namespace,
                                                                  f"rule {rule.slot}")
    return found  # type: ignore[return-value]


def _inference_code(rule: Rule, n: int, namespace: dict[str, object]) -> list[str]:
    """Expressions for the parts of a rule's entry, the n-th of a list (comma-led after the first)."""
    head, threshold, total, tail = _rule_templates(rule)
    lead = b"," if n else b""
    namespace.update({f"R{n}": rule, f"TH{n}": threshold, f"TA{n}": tail,
                      f"HS{n}": tuple(lead + head + s + b'","summary":' for s in _STATUS)})
    c = 2 * rule.counts
    return [f"HS{n}[S[{rule.slot}]]", f"SUMMARY(R{n}, P)[1]", f"TH{n}", f"NUM(C[{c}])", "b',\"possible\":'",
            f"NUM(C[{c + 1}])", *_list_code(rule.requires, namespace, f"q{n}_", total + b"["),
            *_list_code(rule.items, namespace, f"i{n}_", b',"items":['), f"TA{n}"]


def _compile_parts(parts: list[str], namespace: dict[str, object], name: str) -> Callable[[_Renderer], list[bytes]]:
    return _compile(f"def render(R):\n    S, C, K, M, item, P = R.statuses, R.counts, R.known_mask, R.memo, R.item, "
                    f"R.a.proof\n    return [{', '.join(parts)}]\n", namespace, name)


def _list_code(children: list[Item], namespace: dict[str, object], prefix: str, opening: bytes) -> list[str]:
    """Expressions for the parts of a JSON list of items (``opening`` and the "[" included): a finding nobody stated
    is its fixed bytes, a conclusion one of its nine possible entries, a group its entry (from the memo, else its own
    generated renderer), the rest through ``_Renderer.item``; the bytes before each child (the opening, a comma) are
    folded into its fixed bytes where it has some. The same entries ``_Renderer.item`` writes (a test holds the JSON
    to the proof's steps); only calls and parts are saved. Names in the code are slot numbers; every constant is
    passed in, so no ontology text becomes code."""
    if not children:
        namespace[f"E{prefix}"] = opening + b"]"
        return [f"E{prefix}"]
    parts: list[str] = []
    for n, child in enumerate(children):
        name = f"{prefix}{n}"
        lead = opening if n == 0 else b","
        namespace[f"I{name}"], namespace[f"L{name}"] = child, lead
        if isinstance(child, FindingItem):
            namespace[f"U{name}"] = lead + _unknown_finding(child)
            parts.append(f"(U{name} if not K & {child.bit} else L{name} + item(I{name}))")
        elif isinstance(child, ConclusionItem):
            head, tail = _templates(child)
            namespace[f"C{name}"] = tuple(lead + head + own + tail + source + b'"}'
                                          for own in _STATUS for source in _STATUS)
            parts.append(f"C{name}[S[{child.slot}] * 3 + S[{child.rule.slot}]]")  # type: ignore[union-attr]
        elif isinstance(child, Group):
            namespace[f"G{name}"] = _group_renderer(child)
            parts += [f"L{name}", f"(M.get({child.slot}) or G{name}(R))"]
        else:
            parts += [f"L{name}", f"item(I{name})"]
    parts.append('b"]"')
    return parts


def _compile(source: str, namespace: dict[str, object], name: str) -> Callable:
    exec(compile(source, f"<spakg JSON {name}>", "exec"), namespace)
    return namespace["render"]  # type: ignore[return-value]


def _rule_templates(rule: Rule) -> tuple[bytes, bytes, bytes, bytes]:
    """A rule's entry around its status, its met count and its possible count (the rest is the same for everyone)."""
    found = rule.__dict__.get("_json_rule")
    if found is None:
        head = b'{"rule":' + _j(rule.id) + b',"concludes":' + _j(rule.concludes.id if rule.concludes else None) + \
            b',"status":"'
        threshold = b',"explanation":{"threshold":' + _num(rule.needed) + b',"met":'
        total = b',"total":' + _num(rule.total_weight) + b',"requires":'
        tail = b',"sources":' + _j([provenance_dict(p) for p in rule.sources]) + b',"thresholdBasis":' + \
            _j(rule.threshold_basis) + b',"notes":' + _j(rule.notes) + b"}}"
        found = rule.__dict__["_json_rule"] = (head, threshold, total, tail)
    return found


_HEADERS: dict[tuple[str, str, str], bytes] = {}


def _header(k) -> bytes:
    """What every assessment under this ontology says after its patient id, encoded once."""
    key = (k.version, k.content_hash, k.disclaimer)
    found = _HEADERS.get(key)
    if found is None:
        if len(_HEADERS) > 64:  # reloaded ontologies age out
            _HEADERS.clear()
        found = _HEADERS[key] = (b',"ontologyVersion":' + _j(k.version) + b',"ontologyHash":' + _j(k.content_hash) +
                                 b',"disclaimer":' + _j(k.disclaimer) + b',"note":' + _j(CLASSIFICATION_NOTE) +
                                 b',"inferences":[')
    return found


def assessment_json(a: Assessment, questions: bool = True) -> bytes:
    """The whole assessment as JSON bytes (what ``spakg assess`` writes)."""
    k = a.knowledge
    renderer = _Renderer(a)
    parts = [b'{"patientId":', _j(a.patient_id), _header(k)]
    parts += _inferences_renderer(k.rules.order)(renderer)
    parts.append(b"]")
    book = k.scores  # a score nothing was measured for says only "0 to 10": left out (and not worked out)
    if a.facts.measurements and any(book.started(d, a.facts) for d in book.definitions):
        parts += (b',"scores":', _j([score_dict(s) for s in a.scores if s.started]))
    if questions:
        parts += (b',"nextQuestions":', _j([question_dict(q) for q in a.next_questions]))
    parts.append(b"}")
    return b"".join(parts)


def assessment_dict(a: Assessment, questions: bool = True) -> dict:
    return orjson.loads(assessment_json(a, questions))


def inference_dict(a: Assessment, rule: Rule) -> dict:
    return orjson.loads(b"".join(_Renderer(a).inference(rule)))


def item_dict(a: Assessment, item: Item) -> dict:
    """One item's entry (its whole subtree) for this patient."""
    return orjson.loads(_Renderer(a).item(item))


def question_dict(q: Question) -> dict:
    return {"concept": q.concept.id if q.concept else None, "quantity": q.quantity, "settles": [r.id for r in q.settles]}
