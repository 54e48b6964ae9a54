"""Reading tickets from JSON Lines and CSV: line numbers, reasons, mappings and attachment paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from producers.sources import SourceError, SourceLine, parse_mapping, read_tickets
from worker.settings import Settings


def _jsonl(path: Path, *lines: str | dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines))
    return path


def _good(n: int, **extra: object) -> dict:
    return {"ticket_id": f"T{n}", "customer_id": "C1", "body": f"my card {n} was declined", **extra}


def _codes(line: SourceLine) -> list[str]:
    return [entry.code for entry in line.errors]


def test_jsonl_good_and_bad_lines_carry_physical_line_numbers(
    tmp_path: Path, settings: Settings
) -> None:
    """Each bad JSONL line gives an error naming its line, field and reason; reading goes on."""
    path = _jsonl(
        tmp_path / "in.jsonl",
        _good(1),  # 1
        '{"ticket_id": "T2", "body": ',  # 2 invalid JSON
        "",  # 3 blank: skipped
        "[1, 2]",  # 4 not an object
        {"ticket_id": "T5", "body": "no customer"},  # 5 contract violation
        _good(6, body="x" * 201),  # 6 body over the limit (200)
        "   ",  # 7 blank: skipped
        _good(8),  # 8
    )
    lines = list(read_tickets(path, settings=settings))
    assert [line.line_no for line in lines] == [1, 2, 4, 5, 6, 8]
    assert [line.ticket.ticket_id for line in lines if line.ok] == ["T1", "T8"]
    by_line = {line.line_no: line for line in lines}
    assert _codes(by_line[2]) == ["invalid_json"] and "line 2" in by_line[2].errors[0].message
    assert _codes(by_line[4]) == ["not_an_object"] and "list" in by_line[4].errors[0].message
    [missing] = by_line[5].errors
    assert missing.where == "line 5: customer_id" and missing.code == "invalid_missing"
    [too_long] = by_line[6].errors
    assert (
        too_long.where == "line 6: body" and "201 characters; the limit is 200" in too_long.message
    )
    assert (
        by_line[5].raw == {"ticket_id": "T5", "body": "no customer"} and by_line[5].ticket is None
    )


def test_jsonl_oversize_line_is_refused_and_the_next_line_still_read(
    tmp_path: Path, settings: Settings
) -> None:
    """A line over max_line_bytes gives line_too_long; the lines after it keep their numbers."""
    huge = json.dumps(_good(2, metadata={"pad": "p" * 600}))
    path = _jsonl(tmp_path / "in.jsonl", _good(1), huge, _good(3))
    lines = list(read_tickets(path, settings=settings))
    assert [(line.line_no, _codes(line)) for line in lines] == [
        (1, []),
        (2, ["line_too_long"]),
        (3, []),
    ]
    assert "512 bytes" in lines[1].errors[0].message


def test_jsonl_line_exactly_at_the_limit_is_read(tmp_path: Path) -> None:
    """max_line_bytes is inclusive: a line of exactly that many bytes is accepted."""
    line = json.dumps(_good(1))
    settings = Settings(max_line_bytes=len(line.encode()))
    path = tmp_path / "in.jsonl"
    path.write_text(line + "\r\n" + line.replace("T1", "T2"))  # CRLF, and no newline at the end
    assert [x.ticket.ticket_id for x in read_tickets(path, settings=settings) if x.ok] == [
        "T1",
        "T2",
    ]


def test_csv_with_a_dict_mapping_or_its_string_form(tmp_path: Path, settings: Settings) -> None:
    """A column mapping renames CSV columns to ticket fields; both spellings agree."""
    path = tmp_path / "export.csv"
    path.write_text(
        "id,client,message,channel,internal_note\n"
        "A-1,C-9,Where is my refund?,chat,ignored\n"
        "A-2,C-9,Card blocked,,ignored\n"
    )
    as_dict = list(
        read_tickets(
            path,
            mapping={"ticket_id": "id", "customer_id": "client", "body": "message"},
            settings=settings,
        )
    )
    as_text = list(
        read_tickets(
            path, mapping="ticket_id=id, customer_id=client, body=message", settings=settings
        )
    )
    assert all(line.ok for line in as_dict), [line.errors for line in as_dict]
    tickets = [line.ticket for line in as_dict]
    assert [(t.ticket_id, t.customer_id, t.body, t.channel.value) for t in tickets] == [
        ("A-1", "C-9", "Where is my refund?", "chat"),
        ("A-2", "C-9", "Card blocked", "email"),  # an empty cell keeps the default
    ]
    without_time = {"created_at"}  # defaults to the time of reading
    assert [line.ticket.model_dump(exclude=without_time) for line in as_text] == [
        t.model_dump(exclude=without_time) for t in tickets
    ]
    assert [line.line_no for line in as_dict] == [2, 3]


def test_csv_bad_rows_name_line_and_field(tmp_path: Path, settings: Settings) -> None:
    """A CSV row that breaks the contract reports its line and field; the other rows still parse."""
    path = tmp_path / "in.csv"
    path.write_text(
        "ticket_id,customer_id,body,metadata\nT1,C1,hello,\nbad id!,C1,hello,\nT3,C1,hi,{oops\n"
    )
    lines = list(read_tickets(path, settings=settings))
    assert [line.ok for line in lines] == [True, False, False]
    assert [(e.where, e.code) for e in lines[1].errors] == [
        ("line 3: ticket_id", "invalid_string_pattern_mismatch")
    ]
    assert [(e.where, e.code) for e in lines[2].errors] == [("line 4: metadata", "invalid_json")]


def test_csv_metadata_cell_holds_json(tmp_path: Path, settings: Settings) -> None:
    """A metadata cell is parsed as a JSON object."""
    path = tmp_path / "in.csv"
    path.write_text('ticket_id,customer_id,body,metadata\nT1,C1,hi,"{""plan"": ""gold""}"\n')
    [line] = read_tickets(path, settings=settings)
    assert line.ticket is not None and line.ticket.metadata == {"plan": "gold"}


def test_csv_multi_line_quoted_fields(tmp_path: Path, settings: Settings) -> None:
    """Quoted fields may span lines and hold doubled quotes; later rows keep their line numbers."""
    path = tmp_path / "in.csv"
    path.write_text(
        "ticket_id,customer_id,body\n"
        'T1,C1,"first line\n'
        "second line, with a comma\n"
        'and a ""quote"""\n'
        "\n"
        "T2,C1,plain\n"
        'bad!,C1,"also\nmulti"\n'
    )
    lines = list(read_tickets(path, settings=settings))
    assert [line.line_no for line in lines] == [2, 6, 7]
    assert lines[0].ticket is not None
    assert lines[0].ticket.body == 'first line\nsecond line, with a comma\nand a "quote"'
    assert lines[1].ok and lines[2].errors[0].where == "line 7: ticket_id"


def test_csv_oversize_record_is_refused(tmp_path: Path, settings: Settings) -> None:
    """A CSV record over max_line_bytes (even across lines) gives line_too_long; reading goes on."""
    long_body = ("word " * 60 + "\n") * 3  # about 900 bytes over three physical lines
    path = tmp_path / "in.csv"
    path.write_text(f'ticket_id,customer_id,body\nT1,C1,"{long_body}"\nT2,C1,ok\n')
    lines = list(read_tickets(path, settings=settings))
    assert [(line.line_no, _codes(line)) for line in lines] == [(2, ["line_too_long"]), (6, [])]


def test_csv_unterminated_quote_is_reported(tmp_path: Path, settings: Settings) -> None:
    """A quote never closed is reported at the line that opened it."""
    path = tmp_path / "in.csv"
    path.write_text('ticket_id,customer_id,body\nT1,C1,ok\nT2,C1,"never closed\nmore\n')
    lines = list(read_tickets(path, settings=settings))
    assert [(line.line_no, _codes(line)) for line in lines] == [
        (2, []),
        (3, ["unterminated_quote"]),
    ]


def test_csv_attachment_column_splits_paths_and_guesses_kinds(
    tmp_path: Path, settings: Settings
) -> None:
    """A ';'-separated attachments cell becomes image/audio attachments with content types."""
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "screen.PNG").write_bytes(b"png")
    (folder / "call.wav").write_bytes(b"wav")
    path = folder / "in.csv"
    path.write_text(
        "ticket_id,customer_id,body,files\nT1,C1,see attached, screen.PNG ; call.wav ;\n"
    )
    [line] = read_tickets(path, mapping={"attachments": "files"}, settings=settings)
    assert line.ok, line.errors
    assert [(a.kind.value, a.uri, a.content_type) for a in line.ticket.attachments] == [
        ("image", str(folder / "screen.PNG"), "image/png"),
        ("audio", str(folder / "call.wav"), "audio/x-wav"),
    ]


def test_csv_attachment_with_unknown_extension_is_an_error(
    tmp_path: Path, settings: Settings
) -> None:
    """An attachment whose extension is neither image nor audio is refused, naming the entry."""
    (tmp_path / "notes.docx").write_bytes(b"doc")
    path = tmp_path / "in.csv"
    path.write_text("ticket_id,customer_id,body,attachments\nT1,C1,hi,notes.docx\n")
    [line] = read_tickets(path, settings=settings)
    assert [(e.where, e.code) for e in line.errors] == [
        ("line 2: attachments.0.kind", "unsupported_media_type")
    ]


def test_relative_attachment_paths_resolve_against_the_input_folder(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative attachment path is read from the input's folder, not the working directory."""
    batch = tmp_path / "exports" / "monday"
    (batch / "img").mkdir(parents=True)
    (batch / "img" / "a.png").write_bytes(b"png")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    path = _jsonl(batch / "in.jsonl", _good(1, attachments=[{"kind": "image", "uri": "img/a.png"}]))
    [line] = read_tickets(Path("../exports/monday/in.jsonl"), settings=settings)
    assert line.ok, line.errors
    assert line.ticket.attachments[0].uri == str(batch / "img" / "a.png")
    assert line.raw == json.loads(path.read_text())  # raw keeps what the file said


def test_missing_and_oversize_attachments_are_line_errors(
    tmp_path: Path, settings: Settings
) -> None:
    """A missing or over-limit attachment file fails its line with a named reason; others pass."""
    (tmp_path / "big.png").write_bytes(b"x" * 1025)  # the limit is 1024
    (tmp_path / "ok.png").write_bytes(b"x" * 1024)
    path = _jsonl(
        tmp_path / "in.jsonl",
        _good(1, attachments=[{"kind": "image", "uri": "gone.png"}]),
        _good(
            2, attachments=[{"kind": "image", "uri": "ok.png"}, {"kind": "image", "uri": "big.png"}]
        ),
        _good(3, attachments=[{"kind": "image", "uri": "ok.png"}]),
        _good(4, attachments=[{"kind": "image", "uri": "https://cdn.example.com/a.png"}]),
    )
    lines = list(read_tickets(path, settings=settings))
    assert [(e.where, e.code) for e in lines[0].errors] == [
        ("line 1: attachments.0.uri", "attachment_not_found")
    ]
    assert [(e.where, e.code) for e in lines[1].errors] == [
        ("line 2: attachments.1.uri", "attachment_too_large")
    ]
    assert "1025 bytes; the limit is 1024" in lines[1].errors[0].message
    assert lines[2].ok
    assert [(e.where, e.code) for e in lines[3].errors] == [
        ("line 4: attachments.0.uri", "unsupported_uri_scheme")
    ]


def test_format_comes_from_extension_or_explicit_fmt(tmp_path: Path, settings: Settings) -> None:
    """An explicit fmt overrides the extension; an unknown one without fmt is a SourceError."""
    path = _jsonl(tmp_path / "tickets.txt", _good(1))
    with pytest.raises(SourceError, match="fmt="):
        list(read_tickets(path, settings=settings))
    assert [line.ok for line in read_tickets(path, fmt="jsonl", settings=settings)] == [True]
    with pytest.raises(SourceError, match="unknown format"):
        list(read_tickets(path, fmt="xml", settings=settings))


def test_bad_mappings_are_refused_up_front(tmp_path: Path, settings: Settings) -> None:
    """An unknown field, a malformed item or a column missing from the header raises SourceError."""
    with pytest.raises(SourceError, match="unknown ticket fields"):
        parse_mapping({"ticket": "id"})
    with pytest.raises(SourceError, match="field=column"):
        parse_mapping("ticket_id:id")
    path = tmp_path / "in.csv"
    path.write_text("id,body\nT1,hi\n")
    with pytest.raises(SourceError, match="not in the CSV header"):
        list(read_tickets(path, mapping="ticket_id=id,customer_id=client", settings=settings))


def test_lenient_reading_takes_data_set_rows(tmp_path: Path) -> None:
    """Lenient mode reads `text` as the body, numbers the ids and keeps other keys as metadata."""
    path = tmp_path / "rows.jsonl"
    path.write_text('{"text": "my card was declined", "category": "declined_card_payment"}\n')
    (line,) = read_tickets(path, lenient=True)
    assert line.ticket is not None
    assert (line.ticket.ticket_id, line.ticket.customer_id) == ("line-1", "unknown")
    assert line.ticket.body == "my card was declined"
    assert line.ticket.metadata == {"category": "declined_card_payment"}
    (strict,) = read_tickets(path)
    assert strict.ticket is None and strict.errors


STRAY_QUOTES_CSV = (
    "id,user,message\n"
    'Q-1,C-q,my 5" phone screen broke and the card is lost\n'
    "Q-2,C-q,I lost my card\n"
    'Q-3,C-q,"quoted, with comma"\n'
    'Q-4,C-q,another "quote here\n'
    "Q-5,C-q,I lost my card again\n"
)
Q_MAPPING = "ticket_id=id,customer_id=user,body=message"


def test_csv_stray_quote_inside_an_unquoted_field_is_literal(
    tmp_path: Path, settings: Settings
) -> None:
    """A `"` in the middle of an unquoted field does not swallow the following records."""
    path = tmp_path / "in.csv"
    path.write_text(STRAY_QUOTES_CSV)
    lines = list(read_tickets(path, mapping=Q_MAPPING, settings=settings))
    assert [(line.line_no, line.ok) for line in lines] == [(n, True) for n in range(2, 7)]
    bodies = [line.ticket.body for line in lines if line.ticket is not None]
    assert bodies[0] == 'my 5" phone screen broke and the card is lost'
    assert bodies[2:4] == ["quoted, with comma", 'another "quote here']


def test_csv_quoted_field_spanning_lines_after_stray_quotes(
    tmp_path: Path, settings: Settings
) -> None:
    """A quoted field opened at a field start still spans lines, with `""` as an escaped quote."""
    path = tmp_path / "in.csv"
    path.write_text(
        STRAY_QUOTES_CSV + 'Q-6,C-q,"two\nlines, ""quoted"" and 5"" long"\nQ-7,C-q,x"y"\n'
    )
    lines = list(read_tickets(path, mapping=Q_MAPPING, settings=settings))
    assert [(line.line_no, line.ok) for line in lines][-2:] == [(7, True), (9, True)]
    assert lines[-2].ticket is not None and lines[-1].ticket is not None
    assert lines[-2].ticket.body == 'two\nlines, "quoted" and 5" long'
    assert lines[-1].ticket.body == 'x"y"'


def test_csv_unterminated_quote_at_eof_after_stray_quotes(
    tmp_path: Path, settings: Settings
) -> None:
    """A quote opened at a field start and never closed is reported; earlier records are kept."""
    path = tmp_path / "in.csv"
    path.write_text(STRAY_QUOTES_CSV + 'Q-6,C-q,"never closed\nmore text\n')
    lines = list(read_tickets(path, mapping=Q_MAPPING, settings=settings))
    assert [(line.line_no, _codes(line)) for line in lines] == [(n, []) for n in range(2, 7)] + [
        (7, ["unterminated_quote"])
    ]


def test_csv_record_the_csv_module_cannot_read_as_one_row_is_an_error(
    tmp_path: Path, settings: Settings
) -> None:
    """A record csv rejects (a bare carriage return mid-field) is a line error; reading goes on."""
    path = tmp_path / "in.csv"
    path.write_bytes(b"ticket_id,customer_id,body\nT1,C1,half\rline\nT2,C1,fine\n")
    lines = list(read_tickets(path, settings=settings))
    assert [(line.line_no, _codes(line)) for line in lines] == [(2, ["malformed_csv"]), (3, [])]


def test_jsonl_values_json_refuses_are_line_errors(tmp_path: Path) -> None:
    """A 5000-digit integer or very deep nesting gives invalid_json; later lines are still read."""
    settings = Settings(max_line_bytes=300_000)
    path = _jsonl(
        tmp_path / "in.jsonl",
        '{"ticket_id": "T1", "customer_id": "C1", "n": ' + "9" * 5000 + "}",
        "[" * 200_000,
        _good(3),
    )
    lines = list(read_tickets(path, settings=settings))
    assert [(line.line_no, _codes(line)) for line in lines] == [
        (1, ["invalid_json"]),
        (2, ["invalid_json"]),
        (3, []),
    ]
    assert "4300" in lines[0].errors[0].message and "deeply" in lines[1].errors[0].message


def test_csv_metadata_cell_json_refuses_is_a_line_error(tmp_path: Path) -> None:
    """A metadata cell with a huge integer or deep nesting is invalid_json for that row only."""
    settings = Settings(max_line_bytes=300_000)
    path = tmp_path / "in.csv"
    path.write_text(
        "ticket_id,customer_id,body,metadata\n"
        f"T1,C1,hi,{'9' * 5000}\n"
        f"T2,C1,hi,{'[' * 100_000}\n"  # deep, yet under csv's field limit
        "T3,C1,hi,\n"
    )
    lines = list(read_tickets(path, settings=settings))
    assert [(line.line_no, _codes(line)) for line in lines] == [
        (2, ["invalid_json"]),
        (3, ["invalid_json"]),
        (4, []),
    ]
    assert all(line.errors[0].where.endswith("metadata") for line in lines[:2])


def test_lenient_reading_still_validates_ticket_shaped_rows(tmp_path: Path) -> None:
    """In lenient mode a ticket-shaped row missing customer_id is an error, not `unknown`."""
    path = _jsonl(
        tmp_path / "rows.jsonl",
        {"ticket_id": "B-3", "body": "no customer id"},
        {"body": "no ids at all", "text": "also a text field"},
        {"text": "my card was declined", "category": "declined_card_payment"},
    )
    lines = list(read_tickets(path, lenient=True))
    assert [error.where for error in lines[0].errors] == ["line 1: customer_id"]
    assert lines[1].ticket is None and lines[1].errors
    assert lines[2].ok


def test_lenient_reading_takes_data_set_csv_rows(tmp_path: Path) -> None:
    """Lenient mode reads a Banking77-style `text,category` CSV as tickets."""
    path = tmp_path / "rows.csv"
    path.write_text('text,category\n"my card, it was declined",declined_card_payment\n')
    (line,) = read_tickets(path, lenient=True)
    assert line.ticket is not None and line.ticket.body == "my card, it was declined"
    assert line.ticket.metadata == {"category": "declined_card_payment"}
