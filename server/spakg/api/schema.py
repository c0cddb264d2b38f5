"""The GraphQL schema. Resolvers read the compiled knowledge (``info.context["knowledge"]``) and never touch RDF."""

from __future__ import annotations

import base64
import functools
import re

import graphene

from ..assessment import CLASSIFICATION_NOTE
from ..assessment import Assessment as AssessmentModel
from ..concepts import Concept as ConceptModel
from ..errors import InvalidValue
from ..fhir.assess import assess_bundle
from ..knowledge import Knowledge
from ..rules import ConclusionItem, FindingItem, Group, Item, QuantityItem, Step
from ..rules import Rule as RuleModel
from ..rules.items import STATUS_NAMES
from ..scores import ScoreValue, score_dict

MAX_PAGE = 100  # keep equal to Limits.max_page, which costs a variable `first` at this size


def kb(info) -> Knowledge:
    return info.context["knowledge"]()


class InferenceStatus(graphene.Enum):
    MET = "MET"
    NOT_MET = "NOT_MET"
    UNDETERMINED = "UNDETERMINED"


class Source(graphene.ObjectType):
    id = graphene.ID(required=True)
    iri = graphene.String(required=True)
    title = graphene.String(required=True)
    sha256 = graphene.String()
    file = graphene.String()


class Provenance(graphene.ObjectType):
    source = graphene.Field(Source, required=True)
    quote = graphene.String()
    start = graphene.Int()
    end = graphene.Int()
    section = graphene.String()
    citation = graphene.String()
    iri = graphene.String(description="The quote resource in the ontology, when the provenance is a quote.")


class Relation(graphene.ObjectType):
    predicate = graphene.String(required=True, description="IRI of the relation property")
    label = graphene.String(required=True, description="How the relation reads in this direction")
    direction = graphene.String(required=True, description="OUTGOING (this concept is the subject) or INCOMING")
    target = graphene.Field(lambda: Concept, required=True)
    sources = graphene.List(graphene.NonNull(Provenance), required=True)


class MatchKind(graphene.Enum):
    EXACT = "EXACT"
    CLOSE = "CLOSE"
    BROAD = "BROAD"
    NARROW = "NARROW"


class CrossReference(graphene.ObjectType):
    code = graphene.String(required=True, description="As in oboInOwl:hasDbXref, e.g. ICD10CM:M45")
    system = graphene.String(required=True, description="The code system, e.g. ICD-10-CM")
    match = graphene.Field(MatchKind, required=True,
                           description="How close the code is (SSSOM-style): BROAD means the code is broader")
    url = graphene.String(description="The code in its public browser")
    note = graphene.String(description="Why it is not an exact match, where it is not")
    source = graphene.String(description="Where sources disagree on a code: the one whose cross-reference gives it (MONDO, DOID)")


class Concept(graphene.ObjectType):
    id = graphene.ID(required=True)
    iri = graphene.String(required=True)
    label = graphene.String(required=True)
    definition = graphene.String()
    synonyms = graphene.List(graphene.NonNull(graphene.String), required=True)
    xrefs = graphene.List(graphene.NonNull(CrossReference), required=True,
                          description="Codes in MONDO, DOID, HPO, SNOMED CT and ICD-10, each with how close it is")
    notes = graphene.List(graphene.NonNull(graphene.String), required=True)
    observable = graphene.Boolean(required=True, description="Whether a patient fact may name this concept")
    parents = graphene.List(graphene.NonNull(lambda: Concept), required=True)
    children = graphene.List(graphene.NonNull(lambda: Concept), required=True)
    ancestors = graphene.List(graphene.NonNull(lambda: Concept), required=True)
    descendants = graphene.List(graphene.NonNull(lambda: Concept), required=True)
    disjoint_with = graphene.List(graphene.NonNull(lambda: Concept), required=True)
    related = graphene.List(graphene.NonNull(Relation), required=True)
    used_by_rules = graphene.List(graphene.NonNull(lambda: Rule), required=True)
    concluded_by = graphene.List(graphene.NonNull(lambda: Rule), required=True)
    sources = graphene.List(graphene.NonNull(Provenance), required=True)

    @staticmethod
    def resolve_disjoint_with(c: ConceptModel, info):
        return c.disjoint_with

    @staticmethod
    def resolve_related(c: ConceptModel, info):
        out = [Relation(r.predicate, r.label, "OUTGOING", r.object, r.sources) for r in c.outgoing]
        out += [Relation(r.predicate, r.inverse_label, "INCOMING", r.subject, r.sources) for r in c.incoming]
        return out

    @staticmethod
    def resolve_used_by_rules(c: ConceptModel, info):
        return kb(info).rules.by_concept.get(c.id, [])

    @staticmethod
    def resolve_concluded_by(c: ConceptModel, info):
        return [r for r in kb(info).rules.order if r.concludes is c]


class ConceptEdge(graphene.ObjectType):
    cursor = graphene.String(required=True)
    node = graphene.Field(Concept, required=True)


class PageInfo(graphene.ObjectType):
    has_next_page = graphene.Boolean(required=True)
    end_cursor = graphene.String()


class ConceptConnection(graphene.ObjectType):
    edges = graphene.List(graphene.NonNull(ConceptEdge), required=True)
    page_info = graphene.Field(PageInfo, required=True)
    total_count = graphene.Int(required=True)


class Comparison(graphene.ObjectType):
    quantity = graphene.String(required=True)
    operator = graphene.String(required=True)
    value = graphene.Float(required=True)


class RuleItem(graphene.ObjectType):
    id = graphene.ID(required=True)
    label = graphene.String(required=True)
    kind = graphene.String(required=True, description="FINDING, GROUP, CONCLUSION or RULE")
    weight = graphene.Float(required=True)
    threshold = graphene.Float(description="For a group: the item weight that must be met")
    finding = graphene.Field(Concept)
    expects = graphene.String()
    comparisons = graphene.List(graphene.NonNull(Comparison), required=True)
    accept_unknown = graphene.Boolean(required=True)
    items = graphene.List(graphene.NonNull(lambda: RuleItem), required=True)
    requires = graphene.List(graphene.NonNull(lambda: RuleItem), required=True)
    rule = graphene.Field(lambda: Rule, description="For a conclusion item: the rule whose outcome it takes")
    notes = graphene.List(graphene.NonNull(graphene.String), required=True)
    sources = graphene.List(graphene.NonNull(Provenance), required=True)

    @staticmethod
    def resolve_threshold(item: Item, info):
        return item.needed if isinstance(item, Group) else None

    @staticmethod
    def resolve_finding(item: Item, info):
        return item.concept if isinstance(item, FindingItem) else None

    @staticmethod
    def resolve_expects(item: Item, info):
        if isinstance(item, FindingItem):
            return "PRESENT" if item.expects_present else "ABSENT"
        return None

    @staticmethod
    def resolve_comparisons(item: Item, info):
        if not isinstance(item, FindingItem | QuantityItem):
            return []
        return [Comparison(c.quantity, c.symbol, c.value) for c in item.comparisons]

    @staticmethod
    def resolve_accept_unknown(item: Item, info):
        return bool(getattr(item, "accept_unknown", False) or getattr(item, "accept_undetermined", False))

    @staticmethod
    def resolve_items(item: Item, info):
        return item.items if isinstance(item, Group) else []

    @staticmethod
    def resolve_requires(item: Item, info):
        return item.requires if isinstance(item, Group) else []

    @staticmethod
    def resolve_rule(item: Item, info):
        return item.rule if isinstance(item, ConclusionItem) else None


class Rule(graphene.ObjectType):
    id = graphene.ID(required=True)
    iri = graphene.String(required=True)
    label = graphene.String(required=True)
    short_label = graphene.String(required=True)
    kind = graphene.String(
        required=True,
        description="ClassificationCriteria, ArticlePattern, ArticleDefinition, ReferralAdvice, InvestigationAdvice or "
                    "ScoreCategory")
    concludes = graphene.Field(Concept, required=True)
    threshold = graphene.Int(description="k in k-of-n (item weight); null means all items")
    threshold_basis = graphene.String(description="The publication's threshold, or the curators' decision and why")
    items = graphene.List(graphene.NonNull(RuleItem), required=True)
    requires = graphene.List(graphene.NonNull(RuleItem), required=True, description="Entry conditions")
    depends_on = graphene.List(graphene.NonNull(lambda: Rule), required=True)
    citations = graphene.List(graphene.NonNull(graphene.String), required=True)
    notes = graphene.List(graphene.NonNull(graphene.String), required=True)
    sources = graphene.List(graphene.NonNull(Provenance), required=True)

    @staticmethod
    def resolve_kind(rule: RuleModel, info):
        return rule.rule_type

    @staticmethod
    def resolve_threshold(rule: RuleModel, info):
        return None if rule.threshold is None else int(rule.threshold)

    @staticmethod
    def resolve_depends_on(rule: RuleModel, info):
        return rule.depends_on()


class FindingUse(graphene.ObjectType):
    concept = graphene.Field(Concept, required=True)
    state = graphene.String(required=True, description="PRESENT, ABSENT or UNKNOWN for this patient")
    stated_by = graphene.List(
        graphene.NonNull(lambda: StatedFinding), required=True,
        description="The patient's own findings that made the state known (directly, or through the hierarchy or disjointness)")
    values = graphene.List(graphene.NonNull(lambda: QuantityValue), required=True)
    unknown_counts_as_met = graphene.Boolean(required=True)


class StatedFinding(graphene.ObjectType):
    concept = graphene.Field(Concept, required=True)
    present = graphene.Boolean(required=True)
    resources = graphene.List(graphene.NonNull(graphene.String), required=True,
                              description="For a patient read from FHIR: the resources that stated it (Condition/abc)")


class QuantityValue(graphene.ObjectType):
    quantity = graphene.String(required=True)
    value = graphene.Float(description="The number, when it is known exactly (stated)")
    low = graphene.Float(required=True, description="The least it can be (the value itself when stated)")
    high = graphene.Float(required=True, description="The most it can be (the value itself when stated)")


class ItemResult(graphene.ObjectType):
    item = graphene.Field(RuleItem, required=True)
    status = graphene.Field(InferenceStatus, required=True)
    met = graphene.Float(description="For a group: item weight met")
    possible = graphene.Float(description="For a group: weight met plus weight still undetermined")
    threshold = graphene.Float()
    finding = graphene.Field(FindingUse, description="For a finding item: the patient's facts that decided it")
    items = graphene.List(graphene.NonNull(lambda: ItemResult), required=True)
    requires = graphene.List(graphene.NonNull(lambda: ItemResult), required=True)
    inference = graphene.Field(lambda: Inference, description="For a conclusion item: the earlier conclusion, with its proof")

    @staticmethod
    def resolve_item(r, info):
        return r[1].item

    @staticmethod
    def resolve_status(r, info):
        return STATUS_NAMES[r[1].status]

    @staticmethod
    def resolve_met(r, info):
        return r[1].met if isinstance(r[1].item, Group) else None

    @staticmethod
    def resolve_possible(r, info):
        return r[1].possible if isinstance(r[1].item, Group) else None

    @staticmethod
    def resolve_threshold(r, info):
        return r[1].item.needed if isinstance(r[1].item, Group) else None

    @staticmethod
    def resolve_finding(r, info):
        a, step = r
        if not isinstance(step.item, FindingItem):
            return None
        if not (a.facts.present | a.facts.absent) & step.item.bit and not a.quantity_values(step.item):
            return _unknown_use(step.item)  # most findings of most patients: the same answer for everyone
        use = a.fact_use(step.item)
        return FindingUse(
            concept=step.item.concept,
            state={True: "PRESENT", False: "ABSENT", None: "UNKNOWN"}[use.present],
            stated_by=[StatedFinding(c, p, a.origin.resources_for(c.id, p) if a.origin else [])
                       for c, p in use.stated_by],
            values=[QuantityValue(q, lo if lo == hi else None, lo, hi) for q, (lo, hi) in a.quantity_values(step.item).items()],
            unknown_counts_as_met=step.item.accept_unknown and use.present is None,
        )

    @staticmethod
    def resolve_items(r, info):
        a, step = r
        return [(a, c) for c in step.children] if isinstance(step.item, Group) else []

    @staticmethod
    def resolve_requires(r, info):
        a, step = r
        return [(a, c) for c in step.requires]

    @staticmethod
    def resolve_inference(r, info):
        a, step = r
        return (a, step.conclusion) if step.conclusion is not None else None


def _unknown_use(item: FindingItem) -> FindingUse:
    """A finding nobody stated, with no number known: kept on the item (an answer is never changed once built)."""
    found = item.__dict__.get("_graphql_unknown_use")
    if found is None:
        found = item.__dict__["_graphql_unknown_use"] = FindingUse(
            concept=item.concept, state="UNKNOWN", stated_by=[], values=[], unknown_counts_as_met=item.accept_unknown)
    return found


class Explanation(graphene.ObjectType):
    summary = graphene.String(required=True)
    met = graphene.Float(required=True)
    possible = graphene.Float(required=True)
    threshold = graphene.Float(required=True)
    threshold_basis = graphene.String()
    requires = graphene.List(graphene.NonNull(ItemResult), required=True)
    items = graphene.List(graphene.NonNull(ItemResult), required=True)
    sources = graphene.List(graphene.NonNull(Provenance), required=True)
    notes = graphene.List(graphene.NonNull(graphene.String), required=True)


class Inference(graphene.ObjectType):
    rule = graphene.Field(Rule, required=True)
    concept = graphene.Field(Concept, required=True)
    status = graphene.Field(InferenceStatus, required=True)
    explanation = graphene.Field(Explanation, required=True)

    @staticmethod
    def resolve_rule(r, info):
        return r[1].item

    @staticmethod
    def resolve_concept(r, info):
        return r[1].item.concludes

    @staticmethod
    def resolve_status(r, info):
        return STATUS_NAMES[r[1].status]

    @staticmethod
    def resolve_explanation(r, info):
        a, step = r
        rule: RuleModel = step.item
        return Explanation(
            summary=a.summary(step), met=step.met, possible=step.possible, threshold=rule.needed,
            threshold_basis=rule.threshold_basis, requires=[(a, s) for s in step.requires],
            items=[(a, c) for c in step.children], sources=rule.sources, notes=rule.notes,
        )


class Question(graphene.ObjectType):
    concept = graphene.Field(Concept, description="The finding to ask about; null for a number about the patient")
    quantity = graphene.String(description="A missing number: on the finding, or (no concept) about the patient")
    settles = graphene.List(graphene.NonNull(Rule), required=True,
                            description="The undetermined rules some answer would decide")
    effort = graphene.Int(required=True, description="How much it takes to learn (spakg:effortRank): 1 asking, "
                                                     "2 examining, 3 a laboratory test, 4 imaging")
    obtained_by = graphene.Field(Concept, description="The investigation that learns it most cheaply; null: ask")


class ScoreTerm(graphene.ObjectType):
    """One term of a score for one patient (resolved from ``scores.term_dict``)."""

    quantity = graphene.ID(required=True, description="The measurement the term reads (a MeasurementInput quantity)")
    label = graphene.String(required=True)
    unit = graphene.String(required=True)
    value = graphene.Float(description="The measurement as given; null when unknown")
    low = graphene.Float(required=True, description="The least the measurement can be (its value when given)")
    high = graphene.Float(required=True, description="The greatest it can be (its value when given)")
    coefficient = graphene.Float(required=True)
    divisor = graphene.Float(required=True)
    transform = graphene.String(required=True, description="x, or ln(x + 1)")
    floor = graphene.Float(description="Measurements below this count as this (CRP below 2 mg/L counts as 2)")
    contribution_low = graphene.Float(required=True, description="The term's least value for this patient")
    contribution_high = graphene.Float(required=True, description="The term's greatest value for this patient")


class ScoreCategory(graphene.ObjectType):
    id = graphene.ID(required=True, description="The category's rule (rule:ScoreCategory)")
    label = graphene.String(required=True)
    status = graphene.Field(InferenceStatus, required=True,
                            description="MET or NOT_MET only when the score's whole interval decides it")
    rule = graphene.Field(Rule, required=True)
    concept = graphene.Field(Concept, required=True, description="The disease activity state it concludes")

    @staticmethod
    def resolve_id(c, info):
        return c[0].id

    @staticmethod
    def resolve_label(c, info):
        return c[0].label

    @staticmethod
    def resolve_status(c, info):
        return STATUS_NAMES[c[1]]

    @staticmethod
    def resolve_rule(c, info):
        return c[0]

    @staticmethod
    def resolve_concept(c, info):
        return c[0].concludes


class Score(graphene.ObjectType):
    """A score for one patient (resolved from ``scores.score_dict``; categories keep their rules)."""

    id = graphene.ID(required=True, description="Basdai or AsdasCrp")
    label = graphene.String(required=True)
    unit = graphene.String(required=True)
    value = graphene.Float(description="The score, when every input is known (or the score was given); else null")
    low = graphene.Float(required=True, description="The least the score can be, unknown inputs over their ranges")
    high = graphene.Float(required=True, description="The greatest the score can be")
    stated = graphene.Boolean(required=True, description="The score itself was given rather than computed")
    formula = graphene.String(required=True)
    terms = graphene.List(graphene.NonNull(ScoreTerm), required=True)
    categories = graphene.List(graphene.NonNull(ScoreCategory), required=True)
    explanation = graphene.String(required=True, description="The working, term by term")
    citations = graphene.List(graphene.NonNull(graphene.String), required=True)


def _snake(d: dict) -> dict:
    return {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in d.items()}


def _score_fields(s: ScoreValue) -> dict:
    fields = _snake(score_dict(s))
    return {**fields, "terms": [_snake(t) for t in fields["terms"]], "categories": s.categories}


class FhirRemark(graphene.ObjectType):
    resource = graphene.String(required=True, description="Observation/abc, or Bundle.entry[3] for a resource without an id")
    reason = graphene.String(required=True, description="A stable code: UNKNOWN_CODE, NOT_CONFIRMED, UNIT_NOT_ACCEPTED, …")
    message = graphene.String(required=True)
    coding = graphene.String(description="The coding concerned, as system|code")


class FhirStated(graphene.ObjectType):
    concept = graphene.Field(Concept, required=True)
    present = graphene.Boolean(required=True)
    resources = graphene.List(graphene.NonNull(graphene.String), required=True)


class FhirMeasured(graphene.ObjectType):
    quantity = graphene.String(required=True)
    resource = graphene.String(required=True)


class FhirReading(graphene.ObjectType):
    patient = graphene.String(description="The Bundle's Patient resource")
    as_of = graphene.String(required=True, description="The date ages and durations were counted to")
    stated = graphene.List(graphene.NonNull(FhirStated), required=True, description="Each fact read, and from where")
    measured = graphene.List(graphene.NonNull(FhirMeasured), required=True)
    unused = graphene.List(graphene.NonNull(FhirRemark), required=True,
                           description="Every resource or coding not used, and why: nothing is dropped silently")
    notes = graphene.List(graphene.NonNull(FhirRemark), required=True,
                          description="What was read on an assumption (no verificationStatus, a DOID code, …)")

    @staticmethod
    def resolve_stated(r, info):
        concepts = kb(info).concepts
        return [FhirStated(concepts.get(c), present, refs) for c, present, refs in r.stated()]

    @staticmethod
    def resolve_as_of(r, info):
        return r.as_of.isoformat()

    @staticmethod
    def resolve_measured(r, info):
        return [FhirMeasured(q, ref) for q, ref in r.measured_by.items()]


class Assessment(graphene.ObjectType):
    patient_id = graphene.ID()
    ontology_version = graphene.String(required=True)
    ontology_hash = graphene.String(required=True)
    disclaimer = graphene.String(required=True, description="The source article's own words")
    note = graphene.String(required=True, description="What a classification is and is not")
    inferences = graphene.List(graphene.NonNull(Inference), required=True, status=graphene.Argument(InferenceStatus))
    scores = graphene.List(graphene.NonNull(Score), required=True,
                           description="Disease-activity scores (BASDAI, ASDAS-CRP): intervals while an input is unknown")
    next_questions = graphene.List(
        graphene.NonNull(Question), required=True,
        description="Unknown findings and missing numbers whose answer would decide an undetermined rule: those that "
                    "decide the most rules first, and among them the cheapest to learn (asking before examining, "
                    "before a blood test, before imaging)")
    fhir = graphene.Field(FhirReading, description="For assessFhir: how the Bundle was read (null otherwise)")

    @staticmethod
    def resolve_fhir(a: AssessmentModel, info):
        return a.origin

    @staticmethod
    def resolve_patient_id(a: AssessmentModel, info):
        return a.patient_id

    @staticmethod
    def resolve_ontology_version(a: AssessmentModel, info):
        return a.knowledge.version

    @staticmethod
    def resolve_ontology_hash(a: AssessmentModel, info):
        return a.knowledge.content_hash

    @staticmethod
    def resolve_disclaimer(a: AssessmentModel, info):
        return a.knowledge.disclaimer

    @staticmethod
    def resolve_note(a: AssessmentModel, info):
        return CLASSIFICATION_NOTE

    @staticmethod
    def resolve_inferences(a: AssessmentModel, info, status=None):
        wanted = None if status is None else STATUS_NAMES.index(getattr(status, "value", status))
        return [(a, s) for s in a.steps if wanted is None or s.status == wanted]

    @staticmethod
    def resolve_scores(a: AssessmentModel, info):
        return [_score_fields(s) for s in a.scores]

    @staticmethod
    def resolve_next_questions(a: AssessmentModel, info):
        effort = a.knowledge.effort
        return [Question(q.concept, q.quantity, list(q.settles), effort.rank(q.concept), effort.investigation(q.concept))
                for q in a.next_questions]


class PathStep(graphene.ObjectType):
    source = graphene.Field(Concept, required=True, name="from")
    relation = graphene.String(required=True)
    target = graphene.Field(Concept, required=True, name="to")
    sources = graphene.List(graphene.NonNull(Provenance), required=True,
                            description="The sentences the step's axiom rests on (empty for an unannotated subclass link)")


class OntologyInfo(graphene.ObjectType):
    version = graphene.String(required=True)
    version_iri = graphene.String(required=True)
    content_hash = graphene.String(required=True)
    class_count = graphene.Int(required=True)
    rule_count = graphene.Int(required=True)
    quote_count = graphene.Int(required=True)
    triple_count = graphene.Int(required=True)
    load_seconds = graphene.Float(required=True)
    last_reload_error = graphene.String(description="Why the last edit of the ontology was refused, if it was")


class FindingInput(graphene.InputObjectType):
    concept = graphene.ID(required=True, description="Local name, CURIE or IRI of an observable concept")
    present = graphene.Boolean(default_value=True)
    age_at_onset = graphene.Float(description="Years; a decimal is allowed")
    duration_months = graphene.Float()
    duration_minutes = graphene.Float()


class Sex(graphene.Enum):
    MALE = "MALE"
    FEMALE = "FEMALE"


class MeasurementInput(graphene.InputObjectType):
    quantity = graphene.ID(required=True, description="A quantity about the patient, e.g. BasdaiFatigue")
    value = graphene.Float(required=True)


class PatientInput(graphene.InputObjectType):
    id = graphene.ID()
    age = graphene.Float(description="Years. Not given: at least the back pain's onset age plus its duration")
    sex = graphene.Field(Sex)
    findings = graphene.List(graphene.NonNull(FindingInput), required=True)
    measurements = graphene.List(graphene.NonNull(MeasurementInput),
                                 description="Numbers about the patient (the quantities the ontology declares)")


_CAMEL = {"age_at_onset": "ageAtOnset", "duration_months": "durationMonths", "duration_minutes": "durationMinutes"}


def _cursor(n: int) -> str:
    return base64.b64encode(f"concept:{n}".encode()).decode()


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        kind, _, n = base64.b64decode(cursor.encode(), validate=True).decode().partition(":")
        if kind != "concept":
            raise ValueError
        return int(n) + 1
    except ValueError:
        raise InvalidValue(f"'after' is not a cursor this API issued: {cursor!r}. Use pageInfo.endCursor.") from None


class Query(graphene.ObjectType):
    assess = graphene.Field(Assessment, required=True, patient=graphene.Argument(PatientInput, required=True))
    assess_fhir = graphene.Field(
        Assessment, required=True, bundle=graphene.Argument(graphene.JSONString, required=True,
                                                            description="A FHIR R4 Bundle (collection, searchset, "
                                                                        "transaction, batch or document)"),
        as_of=graphene.Argument(graphene.Date, description="Count ages and durations to this date (default: the "
                                                           "Bundle's timestamp, else today)"),
        description="Assess a patient given as a FHIR R4 Bundle of Patient, Condition and Observation resources")
    concept = graphene.Field(Concept, id=graphene.ID(required=True))
    concepts = graphene.Field(ConceptConnection, required=True, search=graphene.String(),
                              first=graphene.Int(default_value=20), after=graphene.String())
    rule = graphene.Field(Rule, id=graphene.ID(required=True))
    rules = graphene.List(graphene.NonNull(Rule), required=True)
    sources = graphene.List(graphene.NonNull(Source), required=True)
    ontology = graphene.Field(OntologyInfo, required=True)
    path = graphene.List(graphene.NonNull(PathStep), source=graphene.ID(required=True, name="from"),
                         target=graphene.ID(required=True, name="to"),
                         description="Shortest chain of relations between two concepts "
                                     "(either direction, subclass links included); null if none")

    @staticmethod
    def resolve_assess(root, info, patient):
        k = kb(info)
        findings = []
        for f in patient["findings"]:
            entry = {"concept": f["concept"], "present": f.get("present", True)}
            for snake, camel in _CAMEL.items():
                if f.get(snake) is not None:
                    entry[camel] = f[snake]
            findings.append(entry)
        record = {"id": patient.get("id"), "findings": findings, "age": patient.get("age")}
        sex = patient.get("sex")
        if sex is not None:
            record["sex"] = getattr(sex, "value", sex)
        if patient.get("measurements"):
            record["measurements"] = [{"quantity": m["quantity"], "value": m["value"]} for m in patient["measurements"]]
        return AssessmentModel(k, k.facts.read(record))

    @staticmethod
    def resolve_assess_fhir(root, info, bundle, as_of=None):
        return assess_bundle(kb(info), bundle, as_of)

    @staticmethod
    def resolve_concept(root, info, id):
        return kb(info).concepts.get(id)

    @staticmethod
    def resolve_concepts(root, info, search=None, first=20, after=None):
        if first is None:  # `first: null` asks for the default page
            first = 20
        if not 0 <= first <= MAX_PAGE:
            raise InvalidValue(f"'first' must be between 0 and {MAX_PAGE} (got {first}).")
        found = kb(info).concepts.search(search)
        start = _offset(after)
        page = found[start:start + first]
        edges = [ConceptEdge(_cursor(start + i), c) for i, c in enumerate(page)]
        return ConceptConnection(
            edges=edges, total_count=len(found),
            page_info=PageInfo(has_next_page=start + first < len(found), end_cursor=edges[-1].cursor if edges else None),
        )

    @staticmethod
    def resolve_rule(root, info, id):
        return kb(info).rules.get(id)

    @staticmethod
    def resolve_rules(root, info):
        return kb(info).rules.order

    @staticmethod
    def resolve_sources(root, info):
        return kb(info).provenance.sources

    @staticmethod
    def resolve_ontology(root, info):
        k = kb(info)
        return OntologyInfo(
            version=k.version, version_iri=k.version_iri, content_hash=k.content_hash, class_count=len(k.concepts),
            rule_count=len(k.rules.rules), quote_count=len(k.provenance.quotes), triple_count=len(k.graph),
            load_seconds=k.load_seconds, last_reload_error=info.context.get("last_reload_error", lambda: None)(),
        )

    @staticmethod
    def resolve_path(root, info, source, target):
        concepts = kb(info).concepts
        steps = concepts.path(concepts.get(source), concepts.get(target))
        return None if steps is None else [PathStep(s.source, s.relation, s.target, s.sources) for s in steps]


schema = graphene.Schema(query=Query, auto_camelcase=True)

__all__ = ["Step", "schema"]


@functools.cache
def schema_sdl() -> str:
    """The schema in GraphQL SDL, as served at /graphql/schema.graphql and printed by `spakg schema`."""
    from graphql import print_schema

    return print_schema(schema.graphql_schema) + "\n"
