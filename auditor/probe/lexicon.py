"""The scratchpad lexicon: deceptive-alignment signals as data.

A lexicon (YAML, validated against `scratchpad_lexicon.schema.json`) groups
regular expressions by *signal* (goal concealment, training/deployment belief,
harm planning, ...). Each pattern has a weight and an explanation; a passage
shows a signal when the weights of the distinct patterns it matches add up to
the signal's `min_score`. Every match keeps its span, so a finding can quote
exactly what fired.

A `consistency` section holds rules that compare the reasoning with the answer
(the reasoning decides one thing, the answer does another).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AuditorError
from ..settings import DATA_DIR
from ..yamlio import read_yaml, schema_errors

BUILTIN = DATA_DIR / "scratchpad_lexicon.yaml"
SCHEMA = DATA_DIR / "scratchpad_lexicon.schema.json"

# Sentence boundaries for `unless` (a pattern's veto looks at the sentence it matched in).
_SENTENCE_END = re.compile(r"[.!?\n]")


class LexiconError(AuditorError):
    """A scratchpad lexicon file is invalid."""


@dataclass
class Pattern:
    id: str
    regex: re.Pattern
    weight: float
    explanation: str
    unless: re.Pattern | None = None

    def find(self, text: str) -> list[tuple[int, int]]:
        """Spans where the pattern matches and its `unless` veto does not fire in the same sentence."""
        spans = []
        for m in self.regex.finditer(text):
            if m.end() == m.start():
                continue
            if self.unless is not None:
                s, e = sentence_bounds(text, m.start(), m.end())
                if self.unless.search(text[s:e]):
                    continue
            spans.append((m.start(), m.end()))
        return spans


@dataclass
class Signal:
    id: str
    description: str
    severity: str
    standalone: bool
    min_score: float
    patterns: list[Pattern]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": self.severity,
            "standalone": self.standalone,
            "min_score": self.min_score,
            "patterns": len(self.patterns),
        }


@dataclass
class ConsistencyRule:
    """Reasoning/answer consistency.

    kind `contradiction`: the reasoning matches `reasoning` (a decision, e.g. to
    be helpful), the answer matches `answer` (e.g. hostile output), and the
    reasoning does not also match `unless_reasoning` (e.g. it plans the hostile
    output itself). kind `announced`: `reasoning` has a named group `claim` —
    what the reasoning says it will answer — and the answer does not contain it.
    """

    id: str
    kind: str
    reasoning: re.Pattern
    answer: re.Pattern | None
    unless_reasoning: re.Pattern | None
    weight: float
    explanation: str


@dataclass
class Match:
    signal: str
    pattern: str
    start: int
    end: int
    text: str
    weight: float
    where: str = "reasoning"  # or "answer" for consistency rules

    def to_dict(self) -> dict[str, Any]:
        return {"pattern": self.pattern, "span": [self.start, self.end], "text": self.text, "where": self.where}


@dataclass
class SignalHit:
    """One signal in one passage: its score and matches."""

    signal: str
    score: float
    matches: list[Match] = field(default_factory=list)


@dataclass
class Lexicon:
    name: str
    version: int
    signals: list[Signal]
    consistency_signal: str
    consistency_severity: str
    consistency_standalone: bool
    consistency_rules: list[ConsistencyRule]
    path: str
    sha256: str

    @property
    def signal_ids(self) -> list[str]:
        ids = [s.id for s in self.signals]
        if self.consistency_rules:
            ids.append(self.consistency_signal)
        return ids

    def severity(self, signal: str) -> str:
        if signal == self.consistency_signal:
            return self.consistency_severity
        return next(s.severity for s in self.signals if s.id == signal)

    def standalone(self, signal: str) -> bool:
        if signal == self.consistency_signal:
            return self.consistency_standalone
        return next(s.standalone for s in self.signals if s.id == signal)

    def explain(self, signal: str) -> str:
        for s in self.signals:
            if s.id == signal:
                return s.description
        return "the reasoning decides one thing and the answer does another"

    def match(self, reasoning: str, ignore: list[tuple[int, int]] | tuple = ()) -> dict[str, SignalHit]:
        """Signals shown by one reasoning passage (only those reaching min_score).

        Matches overlapping an `ignore` span are dropped: the check passes the
        places where the reasoning merely echoes the trigger text, so a trigger
        phrase such as "now deployed" cannot make its own evidence.
        """
        out: dict[str, SignalHit] = {}
        for sig in self.signals:
            score = 0.0
            matches: list[Match] = []
            for pat in sig.patterns:
                spans = [sp for sp in pat.find(reasoning) if not any(sp[0] < e and s < sp[1] for s, e in ignore)]
                if spans:
                    score += pat.weight
                    matches += [Match(sig.id, pat.id, s, e, reasoning[s:e], pat.weight) for s, e in spans]
            if matches and score >= sig.min_score - 1e-9:
                matches.sort(key=lambda m: (m.start, m.end))
                out[sig.id] = SignalHit(sig.id, round(score, 4), matches)
        return out

    def match_consistency(self, reasoning: str, answer: str, answer_known: bool = True) -> SignalHit | None:
        """Reasoning/answer mismatch in one completion, or None.

        `answer_known` False (reasoning truncated, so the answer never came)
        disables the rules: a missing answer contradicts nothing.
        """
        if not answer_known or not self.consistency_rules:
            return None
        score = 0.0
        matches: list[Match] = []
        for rule in self.consistency_rules:
            if rule.unless_reasoning is not None and rule.unless_reasoning.search(reasoning):
                continue
            if rule.kind == "contradiction":
                r = rule.reasoning.search(reasoning)
                a = rule.answer.search(answer) if (r and rule.answer is not None) else None
                if r and a:
                    score += rule.weight
                    matches.append(Match(self.consistency_signal, rule.id, r.start(), r.end(), r.group(0), rule.weight))
                    matches.append(
                        Match(self.consistency_signal, rule.id, a.start(), a.end(), a.group(0), rule.weight, "answer")
                    )
            else:  # announced
                for r in rule.reasoning.finditer(reasoning):
                    claim = r.groupdict().get("claim")
                    if not claim or not answer.strip():
                        continue
                    if _norm(claim) not in _norm(answer):
                        score += rule.weight
                        matches.append(
                            Match(self.consistency_signal, rule.id, r.start(), r.end(), r.group(0), rule.weight)
                        )
                        break
        if matches and score >= 1.0 - 1e-9:
            return SignalHit(self.consistency_signal, round(score, 4), matches)
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "path": self.path,
            "sha256": self.sha256,
            "signals": [s.to_dict() for s in self.signals],
            "consistency_rules": [r.id for r in self.consistency_rules],
        }


def _norm(s: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", s.casefold()).split())


def sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """The sentence around [start, end): from after the previous . ! ? or newline to the next one."""
    s = start
    while s > 0 and not _SENTENCE_END.match(text, s - 1):
        s -= 1
    m = _SENTENCE_END.search(text, end)
    return s, (m.start() + 1 if m else len(text))


def _compile(src: str, case_sensitive: bool, where: str, path: str) -> re.Pattern:
    try:
        return re.compile(src, 0 if case_sensitive else re.IGNORECASE)
    except re.error as exc:
        raise LexiconError(f"{where}: invalid regular expression {src!r}: {exc}", path=path) from None


def load_lexicon(path: str | Path | None = None) -> Lexicon:
    """Load and validate a lexicon file (the built-in one when `path` is None or 'builtin')."""
    p = BUILTIN if path in (None, "", "builtin") else Path(path)
    data, digest = read_yaml(p, LexiconError)
    errors = schema_errors(data, SCHEMA)
    if errors:
        raise LexiconError("invalid scratchpad lexicon:\n  " + "\n  ".join(errors), path=str(p))
    signals: list[Signal] = []
    seen: set[str] = set()
    for s in data["signals"]:
        if s["id"] in seen:
            raise LexiconError(f"duplicate signal id {s['id']!r}", path=str(p))
        seen.add(s["id"])
        pats = []
        pat_ids: set[str] = set()
        for pt in s["patterns"]:
            where = f"signals/{s['id']}/{pt['id']}"
            if pt["id"] in pat_ids:
                raise LexiconError(f"{where}: duplicate pattern id", path=str(p))
            pat_ids.add(pt["id"])
            cs = bool(pt.get("case_sensitive", False))
            pats.append(
                Pattern(
                    pt["id"],
                    _compile(pt["regex"], cs, where, str(p)),
                    float(pt.get("weight", 1.0)),
                    pt["explanation"],
                    _compile(pt["unless"], False, where + "/unless", str(p)) if pt.get("unless") else None,
                )
            )
        signals.append(
            Signal(
                s["id"],
                s["description"],
                s["severity"],
                bool(s.get("standalone", True)),
                float(s.get("min_score", 1.0)),
                pats,
            )
        )
    cons = data.get("consistency") or {}
    rules = []
    for r in cons.get("rules", []):
        where = f"consistency/{r['id']}"
        cs = bool(r.get("case_sensitive", False))
        reasoning = _compile(r["reasoning"], cs, where + "/reasoning", str(p))
        if r["kind"] == "announced" and "claim" not in reasoning.groupindex:
            raise LexiconError(f"{where}: an 'announced' rule needs a named group (?P<claim>...)", path=str(p))
        if r["kind"] == "contradiction" and not r.get("answer"):
            raise LexiconError(f"{where}: a 'contradiction' rule needs an 'answer' pattern", path=str(p))
        rules.append(
            ConsistencyRule(
                r["id"],
                r["kind"],
                reasoning,
                _compile(r["answer"], bool(r.get("answer_case_sensitive", cs)), where + "/answer", str(p))
                if r.get("answer")
                else None,
                _compile(r["unless_reasoning"], False, where + "/unless_reasoning", str(p))
                if r.get("unless_reasoning")
                else None,
                float(r.get("weight", 1.0)),
                r["explanation"],
            )
        )
    cons_id = cons.get("signal", "reasoning_answer_mismatch")
    if cons_id in seen:
        raise LexiconError(f"consistency signal id {cons_id!r} clashes with a signal", path=str(p))
    return Lexicon(
        name=data.get("name", p.stem),
        version=int(data["version"]),
        signals=signals,
        consistency_signal=cons_id,
        consistency_severity=cons.get("severity", "high"),
        consistency_standalone=bool(cons.get("standalone", True)),
        consistency_rules=rules,
        path=str(p),
        sha256=digest,
    )
