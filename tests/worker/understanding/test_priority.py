"""Priority rules from the shipped priority.yaml, and the checks that name a broken edit."""

from __future__ import annotations

import itertools
import json
import textwrap
from pathlib import Path

import pytest

from worker.contract import Channel, Sentiment
from worker.settings import REPO_ROOT
from worker.understanding.priority import (
    LEVELS,
    PriorityRules,
    PriorityRulesInvalid,
    ordinal,
)
from worker.understanding.sentiment import score_sentiment

RULES_FILE = REPO_ROOT / "worker" / "knowledge" / "priority.yaml"
LABELS: list[str] = json.loads((REPO_ROOT / "onnx_models" / "intent" / "labels.json").read_text())


def mood(score: float) -> Sentiment:
    """A Sentiment with VADER's label for ``score``."""
    if score <= -0.05:
        return Sentiment(label="negative", score=score)
    return Sentiment(label="positive" if score >= 0.05 else "neutral", score=score)


@pytest.fixture(scope="module")
def rules() -> PriorityRules:
    """The shipped rules, checked against the intent labels."""
    return PriorityRules.load(RULES_FILE, labels=LABELS, repeat_contact_days=14)


def assess(rules: PriorityRules, intent: str | None = "card_arrival", *, score: float | None = 0.0,
           channel: str = "email", repeats: int = 0, out_of_scope: bool = False) -> tuple[str, list[str]]:
    """(level, reasons) for one ticket; defaults: a neutral first email about card_arrival."""
    priority = rules.assess(intent=intent, sentiment=None if score is None else mood(score),
                            channel=channel, repeat_contacts=repeats, out_of_scope=out_of_scope)
    return priority.level, priority.reasons


def write(tmp_path: Path, text: str) -> Path:
    """A priority.yaml with ``text`` in ``tmp_path``."""
    path = tmp_path / "priority.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_shipped_rules_load_against_the_intent_labels() -> None:
    """The shipped file passes every check with the 77 Banking77 labels; days default to settings."""
    loaded = PriorityRules.load(RULES_FILE, labels=LABELS)
    assert loaded.base == "normal"
    assert loaded.repeat_contact_days == 14
    assert len(LABELS) == 77


def test_an_ordinary_ticket_is_normal_without_reasons(rules: PriorityRules) -> None:
    """A neutral first email about a card's arrival stays at the base level, with nothing to explain."""
    assert assess(rules) == ("normal", [])


@pytest.mark.parametrize(
    ("intent", "level"),
    [
        ("lost_or_stolen_card", "high"),
        ("compromised_card", "high"),
        ("cash_withdrawal_not_recognised", "high"),
        ("card_swallowed", "high"),
        ("transfer_not_received_by_recipient", "high"),
        ("card_arrival", "normal"),
        ("exchange_rate", "low"),
        ("fiat_currency_support", "low"),
    ],
)
def test_intent_sets_the_starting_level(rules: PriorityRules, intent: str, level: str) -> None:
    """Security and missing-money intents are high, fee and currency questions low."""
    assert assess(rules, intent)[0] == level


def test_critical_intent_names_itself_in_the_reason(rules: PriorityRules) -> None:
    """The reason says which intent made the ticket critical."""
    assert assess(rules, "lost_or_stolen_card") == ("high", ["intent lost_or_stolen_card is critical"])


def test_a_critical_intent_becomes_urgent_when_anything_raises_it(rules: PriorityRules) -> None:
    """A critical intent alone is high (its reply can go at once); anger, a repeat or a live channel makes it urgent."""
    assert assess(rules, "compromised_card", score=-0.8)[0] == "urgent"
    assert assess(rules, "compromised_card", repeats=1)[0] == "urgent"
    assert assess(rules, "compromised_card", channel="phone")[0] == "urgent"


def test_sentiment_thresholds(rules: PriorityRules) -> None:
    """At or below -0.6 raises one level; between -0.6 and -0.3 lifts low to normal; else nothing."""
    assert assess(rules, score=-0.82) == ("high", ["very negative sentiment (-0.82)"])
    assert assess(rules, "exchange_rate", score=-0.6)[0] == "normal"
    assert assess(rules, "exchange_rate", score=-0.45) == (
        "normal", ["intent exchange_rate is a routine question", "negative sentiment (-0.45)"])
    assert assess(rules, "card_arrival", score=-0.45) == ("normal", ["negative sentiment (-0.45)"])
    assert assess(rules, "exchange_rate", score=-0.2)[0] == "low"
    assert assess(rules, "exchange_rate", score=0.9)[0] == "low"
    assert assess(rules, "exchange_rate", score=None)[0] == "low"


def test_real_vader_score_of_an_angry_ticket_escalates(rules: PriorityRules) -> None:
    """An angry ticket scored by VADER raises the level and quotes the score."""
    sentiment = score_sentiment("This is a disgrace, I'm furious and I hate waiting!")
    priority = rules.assess(intent="card_arrival", sentiment=sentiment, channel="email", repeat_contacts=0)
    assert priority.level == "high"
    assert priority.reasons == [f"very negative sentiment ({sentiment.score:.2f})"]


def test_repeat_contacts_raise_the_level(rules: PriorityRules) -> None:
    """A 2nd contact raises one level; from the 3rd it is at least high, and says which contact."""
    assert assess(rules, repeats=1) == ("high", ["2nd contact about card_arrival within 14 days"])
    assert assess(rules, "exchange_rate", repeats=1)[0] == "normal"
    assert assess(rules, "exchange_rate", repeats=2) == (
        "high",
        ["intent exchange_rate is a routine question", "3rd contact about exchange_rate within 14 days"],
    )
    assert assess(rules, repeats=10)[1] == ["11th contact about card_arrival within 14 days"]


def test_repeat_window_in_reasons_follows_the_configured_days() -> None:
    """The {days} in a reason is the window the caller counts in."""
    rules = PriorityRules.load(RULES_FILE, repeat_contact_days=30)
    assert assess(rules, repeats=1)[1] == ["2nd contact about card_arrival within 30 days"]


@pytest.mark.parametrize(("channel", "level"), [("phone", "high"), ("chat", "high"),
                                                ("email", "normal"), ("web", "normal"), ("social", "normal")])
def test_live_channels_come_sooner(rules: PriorityRules, channel: str, level: str) -> None:
    """Phone and chat (the customer is waiting) raise one level; email, web and social do not."""
    assert assess(rules, channel=channel)[0] == level
    assert assess(rules, channel=Channel(channel))[0] == level


def test_raising_stops_at_urgent(rules: PriorityRules) -> None:
    """Everything at once stays urgent and lists each reason once."""
    level, reasons = assess(rules, "lost_or_stolen_card", score=-0.9, channel="phone", repeats=3)
    assert level == "urgent"
    assert reasons == [
        "intent lost_or_stolen_card is critical",
        "very negative sentiment (-0.90)",
        "4th contact about lost_or_stolen_card within 14 days",
        "channel phone",
    ]


def test_out_of_scope_is_never_low_and_ignores_the_guessed_intent(rules: PriorityRules) -> None:
    """An out-of-scope ticket is at least normal; its guessed intent neither lowers nor raises it."""
    assert assess(rules, "exchange_rate", out_of_scope=True) == ("normal", ["out of scope: needs a person"])
    assert assess(rules, "lost_or_stolen_card", out_of_scope=True)[0] == "normal"
    assert assess(rules, None, out_of_scope=True)[0] == "normal"
    for intent, score, channel, repeats in itertools.product(
        LABELS, (None, -0.9, -0.4, 0.0, 0.8), [c.value for c in Channel], (0, 1, 3)
    ):
        level, reasons = assess(rules, intent, score=score, channel=channel, repeats=repeats, out_of_scope=True)
        assert level != "low" and "out of scope: needs a person" in reasons


def test_every_label_gets_a_level(rules: PriorityRules) -> None:
    """Each of the 77 intents assesses to a valid level; none is urgent by itself, few are low."""
    levels = [assess(rules, label)[0] for label in LABELS]
    assert set(levels) <= set(LEVELS)
    assert levels.count("urgent") == 0
    assert 10 <= levels.count("high") <= 16
    assert levels.count("low") < len(LABELS) / 2


def test_ordinals() -> None:
    """Ordinals read as English: 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 22nd, 101st, 111th."""
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"]


GOOD_RULE = """\
  - name: out of scope
    when: {out_of_scope: true}
    at_least: normal
    reason: out of scope
"""


@pytest.mark.parametrize(
    ("rules_text", "rule", "problem"),
    [
        ("  - name: typo\n    when: {intent: [lost_or_stolen_crad]}\n    set: urgent\n    reason: x\n",
         "rule 1: typo", "unknown intent 'lost_or_stolen_crad' (did you mean 'lost_or_stolen_card'?)"),
        ("  - name: bad key\n    when: {sentiment_below: -0.5}\n    raise: 1\n    reason: x\n",
         "rule 1: bad key", "when.sentiment_below: Extra inputs are not permitted"),
        ("  - name: two actions\n    when: {channel: [phone]}\n    raise: 1\n    set: high\n    reason: x\n",
         "rule 1: two actions", "exactly one action"),
        ("  - name: no action\n    when: {channel: [phone]}\n    reason: x\n",
         "rule 1: no action", "exactly one action"),
        ("  - name: bad level\n    when: {channel: [phone]}\n    set: critical\n    reason: x\n",
         "rule 1: bad level", "set: Input should be 'low', 'normal', 'high' or 'urgent'"),
        ("  - name: bad channel\n    when: {channel: [fax]}\n    raise: 1\n    reason: x\n",
         "rule 1: bad channel", "when.channel.0: Input should be"),
        ("  - name: empty\n    when: {}\n    raise: 1\n    reason: x\n",
         "rule 1: empty", "'when' has no condition"),
        ("  - name: empty range\n    when: {sentiment_above: -0.3, sentiment_at_or_below: -0.6}\n"
         "    raise: 1\n    reason: x\n", "rule 1: empty range", "no score is above -0.3 and at or below -0.6"),
        ("  - name: placeholder\n    when: {channel: [phone]}\n    raise: 1\n    reason: 'via {medium}'\n",
         "rule 1: placeholder", "reason uses {medium}"),
        ("  - name: attribute\n    when: {channel: [phone]}\n    raise: 1\n    reason: '{channel.__class__}'\n",
         "rule 1: attribute", "reason uses {channel.__class__}"),
        ("  - name: score\n    when: {channel: [phone]}\n    raise: 1\n    reason: 'score {score}'\n",
         "rule 1: score", "reason uses {score} but the rule has no sentiment condition"),
        ("  - name: format\n    when: {sentiment_at_or_below: -0.6}\n    raise: 1\n    reason: '{score:.2q}'\n",
         "rule 1: format", "reason does not format"),
        ("  - name: a\n    when: {intent: [exchange_rate]}\n    set: low\n    reason: x\n"
         "  - name: b\n    when: {intent: [exchange_rate]}\n    set: high\n    reason: y\n",
         "rule 2: b", "intent 'exchange_rate' is set to high here and to low by rule 1"),
    ],
)
def test_broken_rules_are_named(tmp_path: Path, rules_text: str, rule: str, problem: str) -> None:
    """Each kind of broken edit raises PriorityRulesInvalid naming the file, the rule and the problem."""
    path = write(tmp_path, "base: normal\nrules:\n" + rules_text + GOOD_RULE)
    with pytest.raises(PriorityRulesInvalid) as caught:
        PriorityRules.load(path, labels=LABELS, repeat_contact_days=14)
    assert caught.value.path == path
    assert caught.value.rule == rule
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{path} [{rule}]: ")


def test_unknown_intents_pass_without_labels(tmp_path: Path) -> None:
    """Without labels the intent names are not checked (labels come from the built model)."""
    path = write(tmp_path, "rules:\n  - when: {intent: [made_up]}\n    set: high\n    reason: x\n")
    rules = PriorityRules.load(path, repeat_contact_days=14)
    assert rules.assess(intent="made_up", sentiment=None, channel="web", repeat_contacts=0).level == "high"


def test_invalid_yaml_and_wrong_shapes_name_the_file(tmp_path: Path) -> None:
    """Unparseable YAML, a list at the top and an unknown top-level key each name the file."""
    for text, problem in [("rules: [\n", "not valid YAML"), ("- a\n- b\n", "expected a mapping"),
                          ("base: normal\nrulez: []\n", "rulez: Extra inputs are not permitted"),
                          ("base: highest\n", "base: Input should be")]:
        path = write(tmp_path, text)
        with pytest.raises(PriorityRulesInvalid, match=problem) as caught:
            PriorityRules.load(path, repeat_contact_days=14)
        assert caught.value.path == path and caught.value.rule is None


@pytest.mark.parametrize(
    "text",
    [
        "base: low\nrules: []\n",
        "rules:\n  - when: {channel: [web]}\n    set: low\n    reason: web\n",
        "rules:\n" + GOOD_RULE + "  - when: {channel: [web]}\n    set: low\n    reason: web\n",
        "base: low\nrules:\n  - when: {out_of_scope: true, channel: [chat]}\n    at_least: normal\n    reason: x\n",
    ],
)
def test_rules_that_could_leave_out_of_scope_low_are_refused(tmp_path: Path, text: str) -> None:
    """A low base or a 'set: low' that could match must be followed by an out-of-scope floor rule."""
    path = write(tmp_path, text)
    with pytest.raises(PriorityRulesInvalid, match="out-of-scope ticket could end up low"):
        PriorityRules.load(path, repeat_contact_days=14)


def test_low_base_with_a_final_floor_is_accepted(tmp_path: Path) -> None:
    """A low base is fine when an out-of-scope rule lifts those tickets after every 'set: low'."""
    path = write(tmp_path, "base: low\nrules:\n" + GOOD_RULE)
    rules = PriorityRules.load(path, repeat_contact_days=14)
    assert rules.assess(intent=None, sentiment=None, channel="web", repeat_contacts=0).level == "low"
    assert rules.assess(intent=None, sentiment=None, channel="web", repeat_contacts=0,
                        out_of_scope=True).level == "normal"


def test_unknown_channel_and_negative_count_are_refused(rules: PriorityRules) -> None:
    """A channel outside the contract or a negative repeat count is a caller error, not a default."""
    with pytest.raises(ValueError, match="fax"):
        assess(rules, channel="fax")
    with pytest.raises(ValueError, match="repeat_contacts"):
        assess(rules, repeats=-1)
