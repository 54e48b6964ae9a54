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


def test_a_greeting_sharing_the_request_line_leaves_the_request() -> None:
    """"Hi team, my card ..." loses its greeting and keeps the request on that line."""
    cleaned = clean_body("Hi team, my card has not arrived yet")
    assert cleaned.text == "my card has not arrived yet" and cleaned.removed[0].kind == "greeting"


def test_a_signature_without_a_sign_off_or_dashes_is_found() -> None:
    """A last paragraph of a name, a title and a phone number is the sender's signature."""
    cleaned = clean_body("Where can I find the top-up verification code?\n\nDaniel Nguyen\nSales Executive\n"
                         "Northwind Traders\n07643 726749")
    assert cleaned.text == "Where can I find the top-up verification code?"
    assert cleaned.signature.startswith("Daniel Nguyen")


def test_a_last_paragraph_that_is_a_request_is_not_a_signature() -> None:
    """Two short lines that ask something stay, even under a blank line."""
    body = "Hello.\n\nMy card was declined\nCan you help me?"
    assert "Can you help me?" in clean_body(body).text


def test_quote_headers_the_parser_misses_are_cut_by_our_rules() -> None:
    """A one-space Spanish header, a header wrapped over two lines and a forward separator all start the quote."""
    for quote in ("El jue, 5 oct 2023 a las 07:37, Banco (<care@bank.example>) escribió:\n> Hola",
                  "Le lun. 14 mars 2022 à 10:02, Support <s@bank.example> a\nécrit :\n> Bonjour",
                  "---------- Forwarded message ---------\nFrom: Bank <b@bank.example>\nDate: Mon\n\nYour card is on its way",
                  "________________________________\nFrom: Bank\nSent: Monday\nTo: me\n\nOld text"):
        cleaned = clean_body("My transfer has not arrived.\n\n" + quote)
        assert cleaned.text == "My transfer has not arrived.", quote
        assert any(item.kind == "quote" for item in cleaned.removed)


def test_an_e_mail_address_in_angle_brackets_is_not_html() -> None:
    """"<a.murphy@example.org>" does not make a plain-text body HTML, so its lines survive."""
    cleaned = clean_body("My card is blocked.\n\nOn Mon, Ann <a.murphy@example.org> wrote:\n> old")
    assert cleaned.text == "My card is blocked." and not any(item.kind == "html" for item in cleaned.removed)


def test_disclaimers_without_the_parsers_keywords_are_cut() -> None:
    """A trailing confidentiality paragraph goes; the request above it stays."""
    body = ("Why was I charged a fee for my transfer?\n\nThis message and any attachments are confidential and "
            "intended solely for the addressee. If you received this in error, delete it.")
    cleaned = clean_body(body)
    assert cleaned.text == "Why was I charged a fee for my transfer?"
    assert any(item.kind == "disclaimer" for item in cleaned.removed)


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


def test_pleasantries_at_either_end_are_removed_but_not_the_request() -> None:
    """"I hope you are well." and "Thanks in advance for your help!" go; the request in between stays."""
    cleaned = clean_body("Hello,\n\nI hope you are well. My card was declined at the shop.\nThanks in advance for your help!")
    assert cleaned.text == "My card was declined at the shop."
    assert {item.kind for item in cleaned.removed} >= {"greeting", "pleasantry"}


def test_a_pleasantry_alone_is_not_cleaned_away() -> None:
    """A message that is only a pleasantry is still read: cleaning never leaves nothing."""
    assert clean_body("Thanks for your help.").text == "Thanks for your help."


def test_the_signature_is_kept_apart_for_entities() -> None:
    """The sign-off and signature leave the text the models read but travel as ``signature``."""
    cleaned = clean_body("My top-up failed twice today.\n\nKind regards,\nJohn Smith\nTel: +44 20 7946 0958")
    assert cleaned.text == "My top-up failed twice today."
    assert "John Smith" in cleaned.signature and "7946" in cleaned.signature


def test_clean_ticket_reads_a_telling_subject_once_and_counts_what_it_removed() -> None:
    """A telling subject leads the text, a generic one is removed and counted, the share adds up."""
    from worker.text.cleaning import clean_ticket

    told = clean_ticket("Card not arrived", "Hi,\nIt has been two weeks now.\nThanks")
    assert told.text == "Card not arrived. It has been two weeks now." and told.subject_used
    generic = clean_ticket("Re: your message", "Hi,\nMy card has not arrived.\nThanks")
    assert generic.text == "My card has not arrived." and not generic.subject_used
    assert generic.removed[0].kind == "subject" and generic.removed[0].chars == len("Re: your message")
    assert generic.original_chars == len("Re: your message") + len("Hi,\nMy card has not arrived.\nThanks")
    assert generic.removed_share == round(1 - len(generic.text) / generic.original_chars, 4)
    repeated = clean_ticket("Card not arrived", "Card not arrived yet, where is it?")
    assert repeated.text == "Card not arrived yet, where is it?"
