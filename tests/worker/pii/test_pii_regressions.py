"""Counterexamples hypothesis found to "no run of five card digits survives", kept as plain tests."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from pii_samples import leaked, result_carrying

from worker.pii.redaction import mask_numbers_in_place, redact_result, redact_text


# (digits, before, written, after): a card whose best-scoring window is a shorter one inside it, so
# that the card's outer digits were spared (at most four) and read on with the number beside them.
SPARED_CASES = [
    ("0000000000000000000", "card", "0-0-000000-0000000-000-0", "/0"),  # 19 digits, glued both sides
    ("000000000000000000", "card", "0 0 00000 0000000 0000", "-01"),
    ("0000000000000000000", "0 ", "0000-0000-0000-0000-000", "\n0"),
    ("0000000000000000", "I was charged twice on 14980: ", "0000 - 0000\ufeff0000            00            0\u20280",
     "\xa00 thanks."),
    ("187500187429856847", "12 000,", "1875   0018   7429   8568   47", ":  please help"),
]


@pytest.mark.parametrize("case", SPARED_CASES)
def test_spared_card_digits_never_make_five_with_their_neighbours(case: tuple[str, str, str, str]) -> None:
    """The digits a wrong window leaves of a card never show five of it with the number beside them."""
    digits, before, written, after = case
    text = before + written + after
    context = before + " " + after
    assert not leaked(digits, redact_text(text), context=context)
    dumped = redact_result(result_carrying(text)).model_dump_json(exclude={"triaged_at"}).replace("\\n", " ")
    assert not leaked(digits, dumped, context=context)


def test_spared_digits_that_read_as_no_card_keep_the_date_beside_a_card() -> None:
    """A date after a card stays visible: its digits repeat none of the window they end."""
    assert redact_text("4111 1111 1111 1111 2024-01-15") == "[card ****1111] 2024-01-15"


def test_spared_digits_that_would_show_five_are_hidden_in_place_too() -> None:
    """In place, the card's first group is hidden too: "000,1875" would read as 00187 of it."""
    assert mask_numbers_in_place("12 000,1875   0018   7429   8568   47") == "12 000,****   ****   ****   **68   47"


def test_the_results_timestamp_is_what_made_redact_result_flaky() -> None:
    """redact_result masks the card; only the result's own timestamp (15:38:55.5...) repeats 38555."""
    digits, text = "2138555845038128", "ref 02138555845038128: "
    result = redact_result(result_carrying(text, triaged_at=datetime(2026, 12, 2, 15, 38, 55, 500000, tzinfo=timezone.utc)))
    assert leaked(digits, result.model_dump_json(), context="ref 0 : ") == {"38555"}
    assert not leaked(digits, result.model_dump_json(exclude={"triaged_at"}), context="ref 0 : ")
