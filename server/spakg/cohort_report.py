"""The cohort report: per rule, how many patients are MET, NOT_MET and UNDETERMINED, and which single questions would
settle the most undetermined ones — as a terminal table, JSON, and a self-contained HTML page with an inline SVG chart
(no script, no outside file)."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from html import escape
from pathlib import Path

from .assessment import CLASSIFICATION_NOTE, Assessment
from .knowledge import Knowledge

STATUSES = ("MET", "NOT_MET", "UNDETERMINED")
SAMPLE = 2000
_COLOURS = {"MET": "#1a6b2f", "NOT_MET": "#9b1c1c", "UNDETERMINED": "#8a6500"}  # AA on white, as the explorer's


@dataclass
class RuleCounts:
    id: str
    label: str
    counts: dict[str, int]

    def share(self, status: str, total: int) -> float:
        return 100.0 * self.counts.get(status, 0) / total if total else 0.0


@dataclass
class CohortReport:
    patients: int
    unreadable: int
    rules: list[RuleCounts]
    questions: list[dict] = field(default_factory=list)   # {"ask", "settles_patients", "rules"}
    sampled: int = 0
    seconds: float | None = None
    disclaimer: str = ""
    created: str | None = None           # when it was made (ISO 8601, UTC)
    source: str | None = None            # the cohort's file or directory name (not its path)
    ontology: str | None = None          # the ontology's version and content hash it was screened with

    @property
    def readable(self) -> int:
        """The patients whose rows could be read: what each rule's counts add up to."""
        return self.patients - self.unreadable

    def as_dict(self) -> dict:
        total = self.readable
        return {"patients": self.patients, "unreadable": self.unreadable, "seconds": self.seconds,
                "created": self.created, "source": self.source, "ontology": self.ontology,
                "rules": [{"id": r.id, "label": r.label, **{s: r.counts.get(s, 0) for s in STATUSES},
                           **{f"{s}_percent": round(r.share(s, total), 2) for s in STATUSES}} for r in self.rules],
                "nextQuestions": {"sampledUndeterminedPatients": self.sampled, "questions": self.questions},
                "note": CLASSIFICATION_NOTE, "disclaimer": self.disclaimer}

    @classmethod
    def from_dict(cls, data: object) -> CohortReport:
        """A report as ``as_dict`` wrote it (``spakg screen --report-json``); ValueError saying what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("a cohort report is a JSON object")
        patients, unreadable = _count(data, "patients"), _count(data, "unreadable")
        if unreadable > patients:
            raise ValueError("'unreadable' is more than 'patients'")
        rules = data.get("rules")
        if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
            raise ValueError("'rules' must be a list of objects")
        asked = data.get("nextQuestions") or {}
        questions = asked.get("questions", []) if isinstance(asked, dict) else None
        if not isinstance(questions, list) or not all(
                isinstance(q, dict) and isinstance(q.get("ask"), str) and isinstance(q.get("rules", []), list)
                for q in questions):
            raise ValueError("'nextQuestions.questions' must be a list of {ask, settles_patients, rules}")
        seconds = data.get("seconds")
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0):
            raise ValueError("'seconds' must be a number of seconds")
        counted = [RuleCounts(_text(r, "id"), _text(r, "label"), {s: _count(r, s) for s in STATUSES}) for r in rules]
        for r in counted:
            if sum(r.counts.values()) > patients - unreadable:
                raise ValueError(f"rule {r.id} counts more patients than the report read")
        return cls(patients, unreadable, counted,
                   [{"ask": q["ask"], "settles_patients": _count(q, "settles_patients"),
                     "rules": [str(x) for x in q.get("rules", [])]} for q in questions],
                   _count(asked, "sampledUndeterminedPatients") if isinstance(asked, dict) and asked else 0,
                   seconds, str(data.get("disclaimer") or ""), _optional_text(data, "created"),
                   _optional_text(data, "source"), _optional_text(data, "ontology"))

    def chart_svg(self) -> str:
        """Each rule's outcomes as one stacked bar under its name, as inline SVG (escaped; no script): narrow enough
        for a phone, the bars' colours from the explorer's stylesheet where there is one, else their own."""
        total = max(1, self.readable)
        width, row = 400, 38
        parts = []
        for n, r in enumerate(self.rules):
            y = n * row
            name = r.label or r.id
            shown = name if len(name) <= 56 else name[:55].rstrip() + "…"  # SVG text does not wrap; the title has it all
            parts.append(f'<text x="0" y="{y + 13}" font-size="13">{escape(shown)}<title>{escape(name)}</title></text>')
            x = 0.0
            for s in STATUSES:
                w = width * r.counts.get(s, 0) / total
                if w > 0:
                    parts.append(f'<rect class="bar-{s.lower()}" fill="{_COLOURS[s]}" x="{x:.1f}" y="{y + 18}" '
                                 f'width="{w:.1f}" height="14"><title>{escape(r.label or r.id)}: '
                                 f'{s.replace("_", " ").lower()} {r.counts.get(s, 0):,} ({r.share(s, total):.1f}%)'
                                 f'</title></rect>')
                x += w
        height = len(self.rules) * row + 4
        return (f'<svg class="chart" role="img" aria-label="Share of patients met, not met and undetermined for each '
                f'rule" viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet">'
                f'{"".join(parts)}</svg>')

    def as_text(self) -> str:
        total = self.readable
        lines = [f"{self.patients:,} patients screened" + (f" in {self.seconds:.1f} s" if self.seconds else "")
                 + (f"; {self.unreadable:,} rows could not be read (see the error column)" if self.unreadable else ""),
                 "", f"{'rule':40s} {'MET':>16s} {'NOT_MET':>16s} {'UNDETERMINED':>16s}"]
        for r in self.rules:
            cells = [f"{r.counts.get(s, 0):>9,} {r.share(s, total):5.1f}%" for s in STATUSES]
            lines.append(f"{r.id[:40]:40s} " + " ".join(cells))
        if self.questions:
            lines += ["", f"next questions (from {self.sampled:,} sampled undetermined patients):"]
            lines += [f"  {q['settles_patients']:>6,}  {q['ask']}  ({', '.join(q['rules'][:4])})" for q in self.questions]
        lines += ["", CLASSIFICATION_NOTE]
        return "\n".join(lines)

    def as_html(self) -> str:
        total = max(1, self.readable)
        rows = "".join(f"<tr><th scope='row'>{escape(r.label)}</th>" + "".join(
            f"<td>{r.counts.get(s, 0):,} ({r.share(s, total):.1f}%)</td>" for s in STATUSES) + "</tr>" for r in self.rules)
        questions = "".join(f"<li>{escape(q['ask'])}: would settle {q['settles_patients']:,} of the "
                            f"{self.sampled:,} sampled undetermined patients ({escape(', '.join(q['rules']))})</li>"
                            for q in self.questions)
        legend = " ".join(f'<span><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" '
                          f'fill="{_COLOURS[s]}"/></svg> {s.replace("_", " ").lower()}</span>' for s in STATUSES)
        return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Cohort screen · spakg</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;color:#1b1f24;max-width:62rem;margin:1rem auto;padding:0 1rem}}
table{{border-collapse:collapse;width:100%}}th,td{{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e5e9ee}}
.note{{background:#f3f6f9;padding:.5rem .75rem;border-left:4px solid #c9d1d9}}svg text{{fill:#1b1f24}}</style></head><body>
<h1>Cohort screen</h1>
<p>{self.patients:,} patients{f"; {self.unreadable:,} rows could not be read" if self.unreadable else ""}.</p>
<p class="note"><strong>{escape(CLASSIFICATION_NOTE)}</strong> {escape(self.disclaimer)}</p>
<h2>Each rule's outcome</h2><p>{legend}</p>
<div style="max-width:40rem">{self.chart_svg()}</div>
<table><thead><tr><th scope="col">Rule</th><th scope="col">Met</th><th scope="col">Not met</th>
<th scope="col">Undetermined</th></tr></thead><tbody>{rows}</tbody></table>
<h2>Questions that would settle the most undetermined patients</h2><ol>{questions}</ol>
</body></html>"""


def _count(data: dict, key: str) -> int:
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key!r} must be a whole number, 0 or more (got {value!r})")
    return value


def _text(data: dict, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise ValueError(f"each rule needs a text {key!r}")
    return value


def _optional_text(data: dict, key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def build_report(k: Knowledge, results: Path, source: Path | None = None, seconds: float | None = None,
                 as_of: date | None = None) -> CohortReport:
    """Counts from the screen's output; next questions from a sample of the input's undetermined patients."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    rule_ids = [rule.id for rule in k.rules.order]
    counts: dict[str, Counter] = {r: Counter() for r in rule_ids}
    patients = unreadable = 0
    # batch by batch, so memory stays flat whatever the cohort's size
    for batch in ds.dataset(str(results), format="parquet").to_batches(columns=[*rule_ids, "error"]):
        patients += batch.num_rows
        unreadable += batch.num_rows - pc.sum(pc.is_null(batch.column("error"))).as_py() if batch.num_rows else 0
        for r in rule_ids:
            for row in pc.value_counts(batch.column(r).cast("string")).to_pylist():
                if row["values"] is not None:
                    counts[r][row["values"]] += row["counts"]
    rules = [RuleCounts(rule.id, rule.label, dict(counts[rule.id])) for rule in k.rules.order]
    report = CohortReport(patients, unreadable, rules, seconds=seconds, disclaimer=k.disclaimer,
                          created=datetime.now(UTC).isoformat(timespec="seconds"),
                          source=source.name if source is not None else None,
                          ontology=f"{k.version} ({k.content_hash[:12]})")
    if source is not None:
        report.sampled, report.questions = _questions(k, source, as_of=as_of)
    return report


def _questions(k: Knowledge, source: Path, limit: int = 10, as_of: date | None = None) -> tuple[int, list[dict]]:
    """The first ``SAMPLE`` undetermined patients of the input: for each question, how many it would settle."""
    from .cohort import Layout, records_from_frame
    from .fhir.bulk import sample_bundles
    from .screen import cohort_input

    kind, files = cohort_input(source)
    if kind == "bulk":
        records = sample_bundles(files, SAMPLE * 3)
    elif kind == "lines":
        with source.open(encoding="utf-8") as f:
            records = [json.loads(line) for line in itertools.islice(f, SAMPLE * 3) if line.strip()]
    elif kind == "bundles":
        records = []
        for p in files[:SAMPLE * 3]:
            with contextlib.suppress(OSError, ValueError):  # the screen reports a broken file; the sample skips it
                records.append(json.loads(p.read_bytes()))
    else:
        import pyarrow.parquet as pq

        first = source if source.is_file() else sorted(source.rglob("*.parquet"))[0]
        batch = next(pq.ParquetFile(first).iter_batches(batch_size=SAMPLE * 3), None)  # one batch, not a row group
        if batch is None:
            return 0, []
        frame = batch.to_pandas()
        records = [r for r in records_from_frame(Layout.of(k), frame) if isinstance(r, dict)]
    settled: Counter = Counter()
    which: dict[str, Counter] = {}
    sampled = 0
    for record in records:
        try:
            if record.get("resourceType") == "Bundle":
                record = k.fhir.read(record, as_of).record
            a = Assessment(k, k.facts.read(record))
        except Exception:
            continue
        if 1 not in a.statuses:
            continue
        sampled += 1
        for q in a.next_questions:
            ask = (q.concept.label if q.concept else q.quantity) + (f" ({q.quantity})" if q.concept and q.quantity else "")
            settled[ask] += 1
            which.setdefault(ask, Counter()).update(r.id for r in q.settles)
        if sampled >= SAMPLE:
            break
    return sampled, [{"ask": ask, "settles_patients": n, "rules": [r for r, _ in which[ask].most_common()]}
                     for ask, n in settled.most_common(limit)]
