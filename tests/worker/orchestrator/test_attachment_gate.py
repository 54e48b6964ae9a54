"""A body that says nothing beside an attachment is left out of the intent; a real request is not."""

from __future__ import annotations

import pytest

from worker.orchestrator.triager import Triager
from worker.settings import get_settings
from worker.text.cleaning import clean_ticket

# Written for this test: none of these wordings is in the synthetic sets' vague lists.
SAYS_NOTHING = [
    "Hi, I called earlier and left a message.", "voicemail from this morning", "As discussed on the phone.",
    "Hello? Anyone there?", "I tried to explain it in the clip", "Kindly refer to the recording",
    "Following up on my voicemail", "Please see the attached file and revert", "it's in the video", "Re: call",
]
ASKS_SOMETHING = [
    "My card has not arrived yet", "Please listen: my card was stolen yesterday",
    "see attached, my payment was declined", "I left a voice message about a refund",
    "Can you check why my account is blocked?", "the exchange rate was wrong",
]


@pytest.fixture(scope="module")
def triager() -> Triager:
    return Triager.load(get_settings())


def _off_topic(triager: Triager, texts: list[str]) -> list[bool]:
    cleaned = [clean_ticket("", text).text or text for text in texts]
    predictions = triager.intent_model.predict(cleaned)
    return triager.understanding.off_topic(cleaned, [p.confidence for p in predictions])


def test_vague_bodies_are_off_topic(triager: Triager) -> None:
    """Wordings that only point at an attachment are judged off topic."""
    assert _off_topic(triager, SAYS_NOTHING) == [True] * len(SAYS_NOTHING)


def test_requests_that_mention_an_attachment_stay_in(triager: Triager) -> None:
    """A body that carries a banking request is kept, even when it mentions the attachment."""
    assert _off_topic(triager, ASKS_SOMETHING) == [False] * len(ASKS_SOMETHING)


def test_gate_leaves_the_body_out_only_beside_attachment_text(triager: Triager) -> None:
    """Only tickets whose attachment gave text lose an off-topic body; a text-only ticket keeps it."""
    texts = ["Kindly refer to the recording", "my card was declined at the shop", "Kindly refer to the recording"]
    predictions = triager.intent_model.predict(texts)
    slots = [{"text": 0, "transcript": 1}, {"text": 1}, {"text": 2}]
    assert triager._bodies_saying_nothing(slots, texts, predictions) == {0}
