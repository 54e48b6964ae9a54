"""The cleaning stage through the real Triager: what the models read, what the result shows."""

from __future__ import annotations

import pytest

from worker.orchestrator.triager import Triager
from worker.settings import Settings

EMAIL = """Hi team,

My new card still hasn't arrived, it has been two weeks. Can you check where it is?

Thanks,
John Smith
Tel: +44 20 7946 0958

On Mon, 14 Mar 2022 at 10:02, Bank Support <support@bank.example> wrote:
> Dear John, your top-up of £50 failed because the card 4539 1488 0343 6467 was declined.
> Regards, Support
"""


@pytest.fixture(scope="module")
def triager(tmp_path_factory: pytest.TempPathFactory) -> Triager:
    state = tmp_path_factory.mktemp("cleaning-state")
    return Triager.load(Settings(state_dir=state, blob_dir=state / "blobs"))


def _ticket(body: str, subject: str = "") -> dict:
    return {"ticket_id": "CL-1", "customer_id": "C-clean", "subject": subject, "body": body,
            "created_at": "2022-03-15T09:00:00Z"}


def test_the_result_shows_what_the_models_read_and_what_was_removed(triager: Triager) -> None:
    """The quoted thread and the signature leave the text; the result names each removed kind."""
    result = triager.triage(_ticket(EMAIL, subject="Re: your message"))
    assert result.intent is not None and result.intent.label == "card_arrival"
    assert result.cleaning is not None
    assert result.cleaning.text.startswith("My new card still hasn't arrived")
    assert "top-up" not in result.cleaning.text and "John Smith" not in result.cleaning.text
    kinds = {part.kind for part in result.cleaning.removed}
    assert {"subject", "quote", "greeting"} <= kinds and kinds & {"signature", "sign_off"}
    assert 0.4 < result.cleaning.removed_share < 0.9
    assert "cleaning" in result.timings_ms


def test_signature_entities_stay_entities_but_not_the_requests(triager: Triager) -> None:
    """The sender's name and phone are entities marked ``signature``; the quote's amount is none at all."""
    result = triager.triage(_ticket(EMAIL))
    by_part = {(entity.type, entity.part) for entity in result.entities}
    assert ("phone", "signature") in by_part and ("person", "signature") in by_part
    assert not any(entity.type == "amount" for entity in result.entities)
    assert "John" not in result.reply.text
    for entity in result.entities:
        text = result.cleaning.signature if entity.part == "signature" else result.cleaning.text
        assert text[entity.start:entity.end] == entity.text


def test_card_numbers_never_appear_in_the_result_yet_offsets_hold(triager: Triager) -> None:
    """A card number in the read text is hidden character for character, so entity offsets still index it."""
    body = "My card 4539 1488 0343 6467 was charged twice for one coffee."
    result = triager.triage(_ticket(body))
    assert "4539" not in result.model_dump_json() and "**** **** **** 6467" in result.cleaning.text
    card = next(entity for entity in result.entities if entity.type == "card_last4")
    assert result.cleaning.text[card.start:card.end].endswith("6467")


def test_cleaning_can_be_switched_off(tmp_path) -> None:
    """With TICKETFUSION_CLEAN_TEXT off the models read subject and body as written."""
    settings = Settings(state_dir=tmp_path, blob_dir=tmp_path / "blobs", clean_text=False)
    result = Triager.load(settings).triage(_ticket(EMAIL, subject="Re: your message"))
    assert result.cleaning is not None and result.cleaning.removed == []
    assert result.cleaning.text.startswith("Re: your message. Hi team,")


def test_a_long_ticket_is_read_past_the_first_window(triager: Triager) -> None:
    """A request after 200 tokens of context is still what the intent model finds."""
    filler = "We moved house last spring and I have been very busy with the children and work. " * 12
    result = triager.triage(_ticket(filler + "My new card still has not arrived after two weeks, where is it?"))
    assert result.intent is not None and result.intent.label == "card_arrival"
