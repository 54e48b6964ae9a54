"""The JSONL and CSV readers under hostile files: every record yields one SourceLine (a ticket,
or errors that name its line), the reader never raises for one record, always reaches the end of
the file, and the good records around a bad one all come through."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pytest
from fuzz_lines import bad_jsonl_lines, redaction_growth
from fuzz_support import FUZZ, time_bound
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from producers.sources import SourceError, SourceLine, read_tickets
from worker.contract import Ticket
from worker.pii.redaction import redact_ticket
from worker.settings import Settings

MAX_LINE = 256 * 1024
SETTINGS = Settings(redis_url="redis://127.0.0.1:6379/11", max_line_bytes=MAX_LINE, max_metadata_bytes=512,
                    max_body_chars=2_000, max_subject_chars=200)
WORK = Path(tempfile.mkdtemp(prefix="fuzz-sources-"))
PII = ["a@b.co", "jo.doe+x@example.org", "4539 1488 0343 6467", "4539148803436467", "NO9386011117947",
       "GB82 WEST 1234 5698 7654 32", "+44 20 7946 0958", "call 020 7946 0958"]


def read_all(path: Path, **kwargs) -> list[SourceLine]:
    """Every record of ``path``, under a time bound; checks what any SourceLine must hold."""
    with time_bound(60, f"reading {path.name}"):
        lines = list(read_tickets(path, settings=SETTINGS, **kwargs))
    numbers = [line.line_no for line in lines]
    assert numbers == sorted(set(numbers)), "line numbers repeat or go back"
    for line in lines:
        if line.ticket is None:
            assert line.errors, f"line {line.line_no}: no ticket and no reason"
        for entry in line.errors:
            assert entry.where.startswith(f"line {line.line_no}"), entry
            assert entry.code and entry.message
            entry.model_dump_json().encode("utf-8")  # printable and storable as it is
        if line.ok:
            assert_valid_once_redacted(line.ticket)
    return lines


def redacted(ticket: Ticket) -> Ticket:
    """The ticket masked as the worker stores it (fitted to the limits where redaction can)."""
    try:
        return redact_ticket(ticket, limits=SETTINGS.limits())
    except TypeError:  # a redact_ticket that takes no limits
        return redact_ticket(ticket)


def assert_valid_once_redacted(ticket: Ticket) -> None:
    """What the reader accepts, the worker can store: the redacted ticket still passes the contract."""
    redacted_ticket = redacted(ticket).model_dump(mode="json")
    try:
        Ticket.model_validate(redacted_ticket, context={"limits": SETTINGS.limits()})
    except ValidationError as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(f"{ticket.ticket_id} was accepted but is invalid once redacted: {exc}")


# -- JSON Lines ------------------------------------------------------------------------------

# Each line kind: (bytes without a newline, what the reader must make of it).
# JUNK: an error, or blank when it is all spaces; EITHER: a ticket that stays valid once masked, or a line error
GOOD, ERROR, BLANK, JUNK, EITHER = "good", "error", "blank", "junk", "either"


def _good_line(n: int, body: str, ascii_only: bool, extra: dict) -> tuple[bytes, str]:
    ticket = {"ticket_id": f"G-{n}", "customer_id": "C-1", "body": body or "hello", **extra}
    return json.dumps(ticket, ensure_ascii=ascii_only).encode(), GOOD


bad_lines = st.one_of(
    st.sampled_from(bad_jsonl_lines(MAX_LINE)).map(lambda b: (b, ERROR)),
    st.binary(max_size=200).map(lambda b: (b.replace(b"\n", b""), JUNK)),
    st.just((b'{"ticket_id": "T-\xff\xfe", "customer_id": "C", "body": "x"}', ERROR)),  # invalid UTF-8
    st.just((b"\xef\xbb\xbf" + b'{"ticket_id": "T-bom", "customer_id": "C", "body": "x"}', ERROR)),  # BOM mid-file
    st.just((b'{"ticket_id": "T-1", "customer_id": "C", "body": "x\x00"}', ERROR)),  # raw NUL in a string
    st.just((b'{"ticket_id": "T-1", "customer_id": "C", "body": "x\\u0000"}', ERROR)),  # escaped NUL
    st.just((b"\x00" * 64, ERROR)),
    st.just((b'{"ticket_id": "T\\ud800", "customer_id": "C", "body": "x"}', ERROR)),  # lone surrogate
    st.just((b'{"ticket_id": "T-1", "customer_id": "C", "body": "x", "metadata": {"\\udfff": 1}}', ERROR)),
    st.just((b'{"ticket_id": "T-1", "customer_id": "C", "body": "x", "n": ' + b"9" * 5000 + b"}", ERROR)),
    st.just((b'{"ticket_id": "T-1", "customer_id": "C", "body": NaN}', ERROR)),
    st.just((b'{"ticket_id": "T-1", "customer_id": "C", "body": "x", "metadata": {"x": Infinity}}', ERROR)),
    st.just((b'{"a": 1}\r{"b": 2}', ERROR)),  # a lone CR is no line break in JSON Lines
    st.sampled_from([b"[1, 2]", b"null", b'"a string"', b"42", b"{", b"}", b'{"ticket_id": "T-1"'])
    .map(lambda b: (b, ERROR)),
    st.sampled_from([1_000, 100_000]).map(lambda n: (b"[" * n + b"]" * n, ERROR)),  # RecursionError in json.loads
    st.sampled_from([70, 900, 990, 50_000]).map(  # deep metadata: past MAX_NESTING, near and past recursion
        lambda n: (b'{"ticket_id": "T-1", "customer_id": "C", "body": "x", "metadata": {"d": '
                   + b"[" * n + b"1" + b"]" * n + b"}}", ERROR)),
    st.sampled_from([5_000, 50_000]).map(
        lambda n: (b'{"ticket_id": "T-1", "customer_id": "C", "channel": ' + b"[" * n + b"]" * n + b"}", ERROR)),
    st.just((b'{"ticket_id": "' + b"x" * (MAX_LINE + 10) + b'"}', ERROR)),  # past max_line_bytes
    st.integers(0, 40).map(lambda filler: (redaction_growth(filler), EITHER)),
    st.just((b'{"ticket_id": "T-1", "body": "no customer"}', ERROR)),
    st.just((json.dumps({"ticket_id": "T-1", "customer_id": "C", "body": "x" * 2_001}).encode(), ERROR)),
    st.sampled_from([b"", b"   ", b"\t", b"\r", b" \r"]).map(lambda b: (b, BLANK)),
)
good_lines = st.builds(
    _good_line,
    st.integers(0, 10**6),
    st.text(max_size=80).filter(lambda s: "\x00" not in s),
    st.booleans(),
    st.fixed_dictionaries({}, optional={"metadata": st.dictionaries(st.text(max_size=8), st.text(max_size=20),
                                                                    max_size=3),
                                        "subject": st.sampled_from(["Card not arrived", "", "  é  "])}),
)


@settings(FUZZ, max_examples=60)
@given(
    lines=st.lists(st.one_of(good_lines, bad_lines), min_size=1, max_size=25),
    crlf=st.booleans(),
    bom=st.booleans(),
    final_newline=st.booleans(),
)
def test_jsonl_every_line_is_a_ticket_or_its_named_errors(lines, crlf: bool, bom: bool, final_newline: bool) -> None:
    """Random valid and hostile lines, CRLF or LF, with or without BOM: one SourceLine per line, in order, to the end."""
    lines = [(line.replace(b"G-", f"G{i}-".encode(), 1), kind) for i, (line, kind) in enumerate(lines)]
    terminator = b"\r\n" if crlf else b"\n"
    data = terminator.join(line for line, _ in lines) + (terminator if final_newline else b"")
    path = WORK / "in.jsonl"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    by_line = {line.line_no: line for line in read_all(path)}
    assert set(by_line) <= set(range(1, len(lines) + 1))
    for number, (raw, kind) in enumerate(lines, start=1):
        got = by_line.get(number)
        if kind == BLANK or (kind == JUNK and not raw.strip()):
            assert got is None or not got.ok
        elif kind == EITHER:
            assert got is not None  # read_all checked that a ticket is valid once masked
        elif kind == GOOD:
            assert got is not None and got.ok, (number, raw[:200], got)
            assert got.ticket.ticket_id == json.loads(raw)["ticket_id"]
        elif number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            assert got is not None and got.ok  # a byte order mark opens the file: read past it
        else:
            assert got is not None and not got.ok, (number, raw[:200], got)


@pytest.mark.parametrize("depth", [1_000, 10_000, 100_000])
def test_jsonl_deep_nesting_is_a_line_error_and_the_next_line_is_read(depth: int) -> None:
    """``[[[[...]]]]`` 100 000 deep (json.loads raises RecursionError), as a line or inside metadata: one line error."""
    good = json.dumps({"ticket_id": "after", "customer_id": "C-1", "body": "hello"}).encode()
    deep = b"[" * depth + b"]" * depth
    meta = b'{"ticket_id": "M", "customer_id": "C", "body": "x", "metadata": {"d": ' + deep + b"}}"
    path = WORK / "deep.jsonl"
    path.write_bytes(b"\n".join([good.replace(b"after", b"before"), deep, meta, good]) + b"\n")
    lines = read_all(path)
    assert [(line.line_no, line.ok) for line in lines] == [(1, True), (2, False), (3, False), (4, True)]
    assert lines[-1].ticket.ticket_id == "after"


@pytest.mark.parametrize("filler", [0, 5, 20])
def test_jsonl_metadata_that_masking_would_grow_past_the_limit_is_fitted_or_a_line_error(filler: int) -> None:
    """Metadata that the usual masks would grow past its limit is fitted by the redaction or refused by line."""
    line = redaction_growth(filler)
    ticket = json.loads(line)
    assert len(json.dumps(ticket["metadata"], ensure_ascii=False).encode()) <= 512
    path = WORK / "grow.jsonl"
    path.write_bytes(line + b"\n" + json.dumps({"ticket_id": "ok", "customer_id": "C", "body": "x"}).encode())
    first, second = read_all(path)  # read_all: an accepted ticket is valid once masked
    if not first.ok:
        assert [entry.code for entry in first.errors] == ["invalid_once_redacted"]
        assert first.errors[0].where == "line 1: metadata" and "masked" in first.errors[0].message
    assert second.ok


def test_a_ticket_that_masking_makes_invalid_is_a_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where masking would break a limit (a redaction that does not fit it), the reader refuses the line by name."""
    import producers.ticket_checks as checks

    monkeypatch.setattr(checks, "redact_ticket", lambda ticket, **_: ticket.model_copy(
        update={"metadata": {key: value.replace("a@b.co", "[email]") for key, value in ticket.metadata.items()}}))
    path = WORK / "grow.jsonl"
    path.write_bytes(redaction_growth(0) + b"\n" + json.dumps({"ticket_id": "ok", "customer_id": "C", "body": "x"}).encode())
    first, second = list(read_tickets(path, settings=SETTINGS))
    assert [entry.code for entry in first.errors] == ["invalid_once_redacted"]
    assert first.errors[0].where == "line 1: metadata" and "masked" in first.errors[0].message
    assert second.ok


def _pii_text(tokens: list[str], length: int) -> str:
    """``length`` characters of the tokens (e-mails, cards, IBANs, phones) over and over."""
    text = " ".join(tokens or ["x"])
    return (text + " ") * (length // (len(text) + 1) + 1)


pii_tokens = st.lists(st.sampled_from(PII), min_size=1, max_size=5)
near = st.one_of(st.integers(0, 2_000), st.integers(1_900, 2_000))  # any share of the body limit, and close to it


@settings(FUZZ, max_examples=80)
@given(tokens=pii_tokens, body_len=near, subject_len=st.integers(0, 200), meta_len=st.integers(0, 500))
def test_whatever_the_reader_accepts_stays_valid_once_redacted(
    tokens: list[str], body_len: int, subject_len: int, meta_len: int
) -> None:
    """Text dense with e-mails, cards, IBANs and phones at any share of its limit: accepted only if its masked form fits."""
    text = _pii_text(tokens, 2_000)
    raw = {"ticket_id": "P-1", "customer_id": "C-1", "subject": text[:subject_len].strip(),
           "body": text[:body_len].strip() or "x", "metadata": {"m": text[:meta_len]}}
    path = WORK / "pii.jsonl"
    path.write_text(json.dumps(raw) + "\n")
    [line] = read_all(path)  # read_all checks that an accepted ticket is valid once redacted
    assert line.ok or line.errors


# -- CSV -------------------------------------------------------------------------------------

HEADER = ["ticket_id", "customer_id", "subject", "body", "metadata"]


def _csv(cells: list[str], terminator: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator=terminator).writerow(cells)
    return out.getvalue().encode()


good_rows = st.builds(
    lambda n, body, meta: ([f"G-{n}", "C-1", "Card", body or "hello", meta], GOOD),
    st.integers(0, 10**6),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(",\"\n\r'"), max_size=60),
    st.sampled_from(["", "{}", '{"a": "b, \\"c\\""}', '{"n": [1, 2, 3]}']),
)
bad_rows = st.one_of(
    st.just((["T-1", "C-1", "s", "my card, which I ordered", "{}", "surplus"], "extra_csv_cells")),
    st.just((["T-1"], "invalid_missing")),
    st.just((["T-1", "C-1", "s", "b", "{not json"], "invalid_json")),
    st.just((["T-1", "C-1", "s", "b", "[" * 100_000], "invalid_json")),  # RecursionError in the metadata cell
    st.just((["T-1", "C-1", "s", "b", '{"d": ' + "[" * 900 + "]" * 900 + "}"], "invalid_value_error")),
    st.just((["T-1", "C-1", "s", "x" * 2_001, ""], "invalid_value_error")),
    st.just((["T-1", "C-1", "s", "b\x00", ""], "invalid_value_error")),
    st.just((["T-1", "C-1", "s", "b" * (MAX_LINE + 10), ""], "line_too_long")),
    st.just((["T-1", "C-1", "s", "b", json.loads(redaction_growth(3))["metadata"]], EITHER)),
    st.just((b'T-1,C-1,s,"unclosed \xff\xfe",', "invalid_encoding")),
    st.just((b"T-1,C-1,s,a\rb,", "malformed_csv")),  # a bare CR inside an unquoted field
)


@settings(FUZZ, max_examples=60)
@given(rows=st.lists(st.one_of(good_rows, bad_rows), min_size=1, max_size=20), crlf=st.booleans(), bom=st.booleans(),
       unterminated=st.booleans())
def test_csv_every_record_is_a_ticket_or_its_named_errors(rows, crlf: bool, bom: bool, unterminated: bool) -> None:
    """Good CSV rows mixed with malformed, oversize, non-UTF-8 and mismatched ones: one SourceLine per record."""
    terminator = "\r\n" if crlf else "\n"
    data, starts, physical = (b"\xef\xbb\xbf" if bom else b"") + _csv(HEADER, terminator), [], 2
    for i, (cells, _) in enumerate(rows):
        if isinstance(cells, list) and isinstance(cells[-1], dict):
            cells = [*cells[:-1], json.dumps(cells[-1])]
        record = cells + terminator.encode() if isinstance(cells, bytes) else _csv(
            [cell.replace("G-", f"G{i}-", 1) for cell in cells], terminator)
        starts.append(physical)
        physical += record.count(b"\n")
        data += record
    if unterminated:
        data += b'T-9,C-1,s,"never closed' + terminator.encode() + b"more,text" + terminator.encode()
    path = WORK / "in.csv"
    path.write_bytes(data)
    by_line = {line.line_no: line for line in read_all(path)}
    for start, (cells, expected) in zip(starts, rows):
        got = by_line.get(start)
        assert got is not None, (start, cells)
        if expected == EITHER:
            assert got.ok or [entry.code for entry in got.errors] == ["invalid_once_redacted"], got.errors
        elif expected == GOOD:
            assert got.ok and got.ticket.ticket_id.endswith(cells[0][2:]), (start, got)
        else:
            assert not got.ok and expected in [entry.code for entry in got.errors], (start, expected, got.errors)
    expected_lines = set(starts) | ({physical} if unterminated else set())
    assert set(by_line) == expected_lines
    if unterminated:
        assert [entry.code for entry in by_line[physical].errors] == ["unterminated_quote"]


# -- random bytes ----------------------------------------------------------------------------

noise = st.lists(st.one_of(st.binary(max_size=64), st.sampled_from(
    [b"\n", b"\r\n", b"\r", b'"', b",", b"{", b"}", b"[", b"\x00", b"\xef\xbb\xbf", b"\xff", b'{"ticket_id": ',
     b"ticket_id,customer_id,body\n"])), max_size=60).map(b"".join)


@settings(FUZZ, max_examples=120)
@given(data=noise, fmt=st.sampled_from(["jsonl", "csv"]))
def test_random_bytes_never_stop_the_reader(data: bytes, fmt: str) -> None:
    """Files of random bytes: a SourceLine per record to the end (for CSV, a bad header is the one whole-file error)."""
    path = WORK / f"noise.{fmt}"
    path.write_bytes(data)
    try:
        lines = read_all(path)
    except SourceError as exc:
        assert fmt == "csv" and "header" in str(exc)
        return
    physical = data.count(b"\n") + 1
    assert all(1 <= line.line_no <= physical for line in lines)
    assert not any(line.ok for line in lines) or fmt == "csv"


@pytest.mark.parametrize("index", range(len(bad_jsonl_lines(MAX_LINE))))
def test_each_hostile_line_is_one_line_error_between_good_lines(index: int) -> None:
    """Every line of the hostile catalogue, between two good lines: exactly one error for it, both neighbours read."""
    bad = bad_jsonl_lines(MAX_LINE)[index]
    good = [json.dumps({"ticket_id": f"N-{n}", "customer_id": "C-1", "body": "hello"}).encode() for n in (1, 2)]
    path = WORK / "one.jsonl"
    path.write_bytes(b"\n".join([good[0], bad, good[1]]) + b"\n")
    lines = read_all(path)
    assert [(line.line_no, line.ok) for line in lines] == [(1, True), (2, False), (3, True)], lines[1].errors
    assert [line.ticket.ticket_id for line in (lines[0], lines[2])] == ["N-1", "N-2"]
