"""Ticket priority (low, normal, high, urgent) and the reasons for it, from ``priority.yaml``.

Support teams edit the rules, not code: the file names a base level and an ordered list of rules,
each with conditions (``when``), one action (``set`` a level, ``raise`` it some steps, or make it
``at_least`` a level) and the reason an agent reads. :meth:`PriorityRules.load` checks everything
an edit could break (an unknown key or intent, an empty condition, a reason placeholder that
cannot be filled, an out-of-scope ticket that could end up low) and names the file and rule at
fault. No torch: pydantic, PyYAML and the standard library only.
"""

from __future__ import annotations

import difflib
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from worker.contract import Channel, Priority, Sentiment
from worker.errors import TicketfusionError

__all__ = ["LEVELS", "PLACEHOLDERS", "PRIORITY_FILE", "PriorityRules", "PriorityRulesInvalid", "ordinal"]

PRIORITY_FILE = "priority.yaml"
Level = Literal["low", "normal", "high", "urgent"]
LEVELS: tuple[Level, ...] = ("low", "normal", "high", "urgent")
PLACEHOLDERS = ("intent", "score", "channel", "nth", "repeats", "days")
"""What a reason may contain: ``{intent}``, ``{score}`` (the sentiment, a float: ``{score:.2f}``),
``{channel}``, ``{nth}`` (this contact's ordinal: "3rd"), ``{repeats}`` (earlier contacts about
the intent) and ``{days}`` (the repeat-contact window)."""
_SAMPLE = {"intent": "card_arrival", "score": -0.5, "channel": "email", "nth": "2nd", "repeats": 1, "days": 14}
_NO_INTENT = "an unrecognised request"


class PriorityRulesInvalid(TicketfusionError, ValueError):
    """The priority rules cannot be used; the message names the file (and rule) and what is wrong."""

    def __init__(self, path: Path, problem: str, *, rule: str | None = None) -> None:
        self.path = Path(path)
        self.rule = rule
        self.problem = problem
        where = f"{self.path} [{rule}]" if rule else str(self.path)
        super().__init__(f"{where}: {problem}")


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st: for reasons a person reads."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class _When(BaseModel):
    """Conditions of one rule; all that are given must hold (and at least one must be given)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    intent: list[str] | None = Field(default=None, min_length=1)
    sentiment_at_or_below: float | None = Field(default=None, ge=-1.0, le=1.0)
    sentiment_above: float | None = Field(default=None, ge=-1.0, le=1.0)
    repeat_contacts_at_least: int | None = Field(default=None, ge=1)
    repeat_contacts_at_most: int | None = Field(default=None, ge=0)
    channel: list[Channel] | None = Field(default=None, min_length=1)
    out_of_scope: bool | None = None

    @model_validator(mode="after")
    def _consistent(self) -> _When:
        if not self.model_fields_set:
            raise ValueError("'when' has no condition; put an always-true level in 'base' instead")
        if self.intent is not None and len(set(self.intent)) != len(self.intent):
            raise ValueError("an intent is listed twice")
        low, high = self.sentiment_above, self.sentiment_at_or_below
        if low is not None and high is not None and low >= high:
            raise ValueError(f"no score is above {low} and at or below {high}")
        least, most = self.repeat_contacts_at_least, self.repeat_contacts_at_most
        if least is not None and most is not None and least > most:
            raise ValueError(f"no count is at least {least} and at most {most}")
        return self

    @property
    def about_sentiment(self) -> bool:
        """Whether the rule looks at the sentiment score (and so cannot match without one)."""
        return self.sentiment_at_or_below is not None or self.sentiment_above is not None


class _Rule(BaseModel):
    """One rule: conditions, exactly one action, and the reason an agent reads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    when: _When
    set: Level | None = None
    raise_: int | None = Field(default=None, alias="raise", ge=1, le=len(LEVELS) - 1)
    at_least: Level | None = None
    reason: str = Field(min_length=1)

    @model_validator(mode="after")
    def _one_action(self) -> _Rule:
        actions = [a for a in ("set", "raise_", "at_least") if getattr(self, a) is not None]
        if len(actions) != 1:
            raise ValueError("give exactly one action: set, raise or at_least")
        return self

    def label(self, index: int) -> str:
        """How errors name the rule: its position and its name (or reason)."""
        return f"rule {index + 1}: {self.name or self.reason}"


class _RulesFile(BaseModel):
    """The whole file: the level every ticket starts at, then the rules in the order they run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: Level = "normal"
    rules: list[_Rule] = Field(default_factory=list)


class PriorityRules:
    """Loaded, checked priority rules; create with :meth:`load`, then call :meth:`assess`."""

    def __init__(self, spec: _RulesFile, *, path: Path, repeat_contact_days: int) -> None:
        self._spec = spec
        self.path = Path(path)
        self.base: str = spec.base
        self.repeat_contact_days = repeat_contact_days
        """The window repeat contacts are counted in (for the CRM query and the reasons)."""

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        labels: Sequence[str] | None = None,
        repeat_contact_days: int | None = None,
    ) -> PriorityRules:
        """Read and check ``path``; with ``labels``, every intent a rule names must be one of them.

        ``repeat_contact_days`` (default: the ``repeat_contact_days`` setting) only fills
        ``{days}`` in reasons; the caller counts repeat contacts in that window.
        """
        path = Path(path)
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise PriorityRulesInvalid(path, f"not valid YAML: {error}") from None
        if not isinstance(document, dict):
            raise PriorityRulesInvalid(path, "expected a mapping with 'base' and 'rules'")
        try:
            spec = _RulesFile.model_validate(document)
        except ValidationError as error:
            raise _describe(path, document, error) from None
        for index, rule in enumerate(spec.rules):
            _check_reason(path, rule, index)
        _check_intents(path, spec.rules, labels)
        _check_out_of_scope_floor(path, spec)
        if repeat_contact_days is None:
            from worker.settings import get_settings

            repeat_contact_days = get_settings().repeat_contact_days
        return cls(spec, path=path, repeat_contact_days=repeat_contact_days)

    def assess(
        self,
        *,
        intent: str | None,
        sentiment: Sentiment | None,
        channel: str,
        repeat_contacts: int,
        out_of_scope: bool = False,
    ) -> Priority:
        """Apply the rules top to bottom to one ticket.

        ``repeat_contacts`` counts the customer's earlier tickets about the same intent within
        the window, not this one. An out-of-scope ticket's intent is a guess, so intent
        conditions never match it. A ``set`` replaces the level and the reasons gathered so far;
        ``raise`` stops at urgent; every matching rule adds its reason.
        """
        if repeat_contacts < 0:
            raise ValueError(f"repeat_contacts must be 0 or more, not {repeat_contacts}")
        channel_value = Channel(channel).value
        rule_intent = None if out_of_scope else intent
        values = {
            "intent": intent or _NO_INTENT,
            "score": sentiment.score if sentiment is not None else 0.0,
            "channel": channel_value,
            "nth": ordinal(repeat_contacts + 1),
            "repeats": repeat_contacts,
            "days": self.repeat_contact_days,
        }
        level = LEVELS.index(self.base)
        reasons: list[str] = []
        for rule in self._spec.rules:
            if not _matches(rule.when, rule_intent, sentiment, channel_value, repeat_contacts, out_of_scope):
                continue
            if rule.set is not None:
                level, reasons = LEVELS.index(rule.set), []
            elif rule.raise_ is not None:
                level = min(level + rule.raise_, len(LEVELS) - 1)
            elif rule.at_least is not None:
                level = max(level, LEVELS.index(rule.at_least))
            reason = rule.reason.format(**values)
            if reason not in reasons:
                reasons.append(reason)
        return Priority(level=LEVELS[level], reasons=reasons)


def _matches(when: _When, intent: str | None, sentiment: Sentiment | None, channel: str,
             repeats: int, out_of_scope: bool) -> bool:
    if when.intent is not None and intent not in when.intent:
        return False
    if when.about_sentiment:
        if sentiment is None:
            return False
        if when.sentiment_at_or_below is not None and not sentiment.score <= when.sentiment_at_or_below:
            return False
        if when.sentiment_above is not None and not sentiment.score > when.sentiment_above:
            return False
    if when.repeat_contacts_at_least is not None and repeats < when.repeat_contacts_at_least:
        return False
    if when.repeat_contacts_at_most is not None and repeats > when.repeat_contacts_at_most:
        return False
    if when.channel is not None and channel not in {c.value for c in when.channel}:
        return False
    return when.out_of_scope is None or when.out_of_scope == out_of_scope


def _describe(path: Path, document: dict[str, Any], error: ValidationError) -> PriorityRulesInvalid:
    """The first problem pydantic found, with the rule it is in named as a person would."""
    item = error.errors(include_url=False)[0]
    loc = list(item["loc"])
    rule = None
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        raw = (document.get("rules") or [])[loc[1]]
        name = raw.get("name") or raw.get("reason") if isinstance(raw, dict) else None
        rule = f"rule {loc[1] + 1}" + (f": {name}" if name else "")
        loc = loc[2:]
    field = ".".join(str(part) for part in loc if part != "raise_")
    return PriorityRulesInvalid(path, f"{field}: {item['msg']}" if field else item["msg"], rule=rule)


def _check_reason(path: Path, rule: _Rule, index: int) -> None:
    """A reason may name only :data:`PLACEHOLDERS`, plainly, and must format with sample values."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(rule.reason) if f is not None]
    except ValueError as error:
        raise PriorityRulesInvalid(path, f"reason: {error}", rule=rule.label(index)) from None
    for name in fields:
        if name not in PLACEHOLDERS:
            raise PriorityRulesInvalid(
                path,
                f"reason uses {{{name}}}; a reason may use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}",
                rule=rule.label(index),
            )
    if "score" in fields and not rule.when.about_sentiment:
        raise PriorityRulesInvalid(
            path, "reason uses {score} but the rule has no sentiment condition", rule=rule.label(index)
        )
    try:
        rule.reason.format(**_SAMPLE)
    except (ValueError, TypeError) as error:
        raise PriorityRulesInvalid(path, f"reason does not format: {error}", rule=rule.label(index)) from None


def _check_intents(path: Path, rules: list[_Rule], labels: Sequence[str] | None) -> None:
    """Every named intent is a known label (when labels are given); no intent is set to two levels."""
    known = set(labels) if labels is not None else None
    set_by: dict[str, tuple[str, int]] = {}
    for index, rule in enumerate(rules):
        for intent in rule.when.intent or []:
            if known is not None and intent not in known:
                close = difflib.get_close_matches(intent, sorted(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise PriorityRulesInvalid(path, f"unknown intent {intent!r}{hint}", rule=rule.label(index))
            if rule.set is not None:
                if intent in set_by and set_by[intent][0] != rule.set:
                    level, other = set_by[intent]
                    raise PriorityRulesInvalid(
                        path,
                        f"intent {intent!r} is set to {rule.set} here and to {level} by rule {other + 1}",
                        rule=rule.label(index),
                    )
                set_by[intent] = (rule.set, index)


def _check_out_of_scope_floor(path: Path, spec: _RulesFile) -> None:
    """An out-of-scope ticket needs a person, so it must never end up low: the base is above low
    or a rule whose only condition is ``out_of_scope: true`` lifts it, and no rule that can match
    such a ticket sets low afterwards (intent rules cannot: they never match it)."""
    safe = spec.base != "low"
    for rule in spec.rules:
        when = rule.when
        if rule.set == "low" and when.intent is None and when.out_of_scope is not False:
            safe = False
        elif when.model_fields_set == {"out_of_scope"} and when.out_of_scope is True and (
            rule.raise_ is not None or (rule.at_least or rule.set) in LEVELS[1:]
        ):
            safe = True
    if not safe:
        raise PriorityRulesInvalid(
            path,
            "an out-of-scope ticket could end up low: end the rules with one whose 'when' is "
            "{out_of_scope: true} and whose action is 'at_least: normal'",
        )
