"""Cleaning e-mail text: quoted threads, signatures, footers, greetings, HTML and invisible characters."""

from __future__ import annotations

import pytest

from worker.text.cleaning import clean_body, clean_subject

REQUEST = "My new card has still not arrived, can you check where it is?"


def _kinds(cleaned) -> set[str]:
    return {item.kind for item in cleaned.removed}


def test_gmail_reply_keeps_only_the_newest_message() -> None:
    """A Gmail-style "On ... wrote:" thread, signature and iPhone footer are removed; the request stays."""
    body = (f"Hi team,\n\n{REQUEST}\n\nThanks,\nJane Doe\n+44 7700 900123\n\nSent from my iPhone\n\n"
            "On Mon, 14 Mar 2022 at 10:02, Support <support@bank.example> wrote:\n"
            "> Dear customer, we have sent your card.\n> Regards\n")
    cleaned = clean_body(body)
    assert cleaned.text == REQUEST
    assert {"quote", "signature", "greeting"} <= _kinds(cleaned)
    assert cleaned.removed_chars > 0


def test_outlook_original_message_header_starts_the_quote() -> None:
    """Everything from "-----Original Message-----" on is the quoted thread."""
    body = (f"{REQUEST}\n\n-----Original Message-----\nFrom: Support <support@bank.example>\n"
            "Sent: Monday, March 14, 2022 10:02 AM\nSubject: Your card\n\nWe have sent your card.\n")
    cleaned = clean_body(body)
    assert cleaned.text == REQUEST
    assert "quote" in _kinds(cleaned)


@pytest.mark.parametrize("header", [
    "Am Mo., 14. März 2022 um 10:02 Uhr schrieb Support <support@bank.example>:",
    "Le lun. 14 mars 2022 à 10:02, Support <support@bank.example> a écrit :",
])
def test_quote_headers_in_other_languages(header: str) -> None:
    """German and French reply headers also start the quoted thread."""
    cleaned = clean_body(f"{REQUEST}\n\n{header}\n> Wir haben Ihre Karte verschickt.\n")
    assert cleaned.text == REQUEST


def test_html_body_becomes_text_with_its_lines() -> None:
    """An HTML body is read as text, each paragraph on lines of its own, and the conversion is recorded."""
    html = f"<html><body><p>Hello,</p><p>{REQUEST}</p><p>I ordered it 10 days ago.</p></body></html>"
    cleaned = clean_body(html)
    assert [line for line in cleaned.text.splitlines() if line.strip()] == [REQUEST, "I ordered it 10 days ago."]
    assert "<p>" not in cleaned.text
    assert "html" in _kinds(cleaned)


def test_invisible_characters_and_compatibility_forms_are_normalised() -> None:
    """Zero-width spaces, bidi controls and full-width letters do not reach the tokenizer."""
    cleaned = clean_body("my\u200b card\u202e has not ａｒｒｉｖｅｄ")
    assert cleaned.text == "my card has not arrived"
    assert "control" in _kinds(cleaned)


def test_a_greeting_sharing_the_request_line_is_kept() -> None:
    """"Hi, my card ..." is a request, not a greeting line: nothing of it is removed."""
    body = "Hi team, my card has not arrived yet"
    assert clean_body(body).text == body


def test_a_body_that_would_clean_to_nothing_is_kept() -> None:
    """A body of only a greeting is returned as it was, so the models still have something to read."""
    assert clean_body("Hello!").text == "Hello!"


@pytest.mark.parametrize(("subject", "expected"), [
    ("Card not arrived", "Card not arrived"),
    ("Re: Fwd: Card not arrived", "Card not arrived"),
    ("Re: your message", None),
    ("Help", None),
    ("(no subject)", None),
    ("", None),
])
def test_subject_counts_only_when_it_carries_the_request(subject: str, expected: str | None) -> None:
    """A subject naming the problem is kept without reply prefixes; a generic one is dropped."""
    assert clean_subject(subject) == expected


def test_a_quote_below_the_parsed_head_is_still_cut_with_everything_after_it() -> None:
    """A long quoted history past MAX_PARSE_CHARS goes with the quote header found in the head."""
    history = "".join(f"> earlier message line {i}\n" for i in range(2000))
    body = f"{REQUEST}\n\nOn Mon, 14 Mar 2022 at 10:02, Support <support@bank.example> wrote:\n{history}"
    cleaned = clean_body(body)
    assert cleaned.text == REQUEST
    assert next(item.chars for item in cleaned.removed if item.kind == "quote") > len(history) - 100


def test_a_long_body_without_a_quote_is_kept_whole() -> None:
    """Past MAX_PARSE_CHARS with no quote in the head, nothing of the customer's text is dropped."""
    body = "\n".join(f"Sentence {i} about my missing card." for i in range(400))
    assert clean_body(body).text == body
