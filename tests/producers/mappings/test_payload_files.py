"""convert_files: every ticket of JSON files, arrays, list responses and JSON Lines, one outcome
each, named file.json#N, and a bad item never stops the rest."""

from __future__ import annotations

import json
from pathlib import Path

from mapping_samples import PAYLOADS, load
from producers.mappings import convert_files
from worker.contract import Ticket


def _outcomes(paths, mapping, settings, blobs):
    return [(c.source, c.ticket.ticket_id if c.ticket else None, c.skipped, c.error)
            for c in convert_files(paths, mapping, settings=settings, blobs=blobs)]


def test_single_objects_arrays_and_list_responses(settings, blobs):
    """A ticket object is one item; {"tickets": [...]} and arrays give one item per element."""
    results = list(convert_files(
        [PAYLOADS / "zendesk_api_ticket.json", PAYLOADS / "zendesk_list.json", PAYLOADS / "zendesk_trigger.json"],
        "zendesk", settings=settings, blobs=blobs,
    ))
    sources = [Path(r.source).name for r in results]
    assert sources == ["zendesk_api_ticket.json", "zendesk_list.json#1", "zendesk_list.json#2", "zendesk_trigger.json"]
    assert [r.ok for r in results] == [True, True, False, True]
    assert "nothing to triage" in results[2].error
    for result in results:
        if result.ticket:
            Ticket.model_validate(result.ticket.model_dump(mode="json"))


def test_search_results_response(settings, blobs, tmp_path):
    """Freshdesk's search answer {"results": [...], "total": N} gives its tickets."""
    path = tmp_path / "search.json"
    path.write_text(json.dumps({"results": [load("freshdesk_ticket.json")], "total": 1}))
    assert _outcomes([path], "freshdesk", settings, blobs) == [(f"{path}#1", "freshdesk-1042", None, None)]


def test_json_lines_with_bad_lines(settings, blobs, tmp_path):
    """Each JSON line is an item named #line; broken, oversize and foreign lines fail alone."""
    good = json.dumps(load("freshdesk_ticket.json"))
    path = tmp_path / "export.jsonl"
    lines = [good, "", "{not json", json.dumps({"x": "y" * 2_000_000}), json.dumps({"id": "zendesk?"}),
             json.dumps(dict(load("freshdesk_ticket.json"), id=2000))]
    path.write_text("\n".join(lines) + "\n")
    outcomes = _outcomes([path], "freshdesk", settings, blobs)
    assert [o[0].rsplit("#", 1)[1] for o in outcomes] == ["1", "3", "4", "5", "6"]
    assert outcomes[0][1] == "freshdesk-1042" and outcomes[4][1] == "freshdesk-2000"
    assert outcomes[1][3].startswith("line 3 is not valid JSON")
    assert "longer than" in outcomes[2][3]
    assert outcomes[3][3].startswith("payload: not a freshdesk payload")


def test_json_lines_under_a_json_name(settings, blobs, tmp_path):
    """Several JSON documents one a line in a .json file are read as JSON Lines."""
    path = tmp_path / "tickets.json"
    path.write_text(json.dumps(load("freshdesk_ticket.json")) + "\n" + json.dumps(dict(load("freshdesk_ticket.json"), id=7)) + "\n")
    assert [o[1] for o in _outcomes([path], "freshdesk", settings, blobs)] == ["freshdesk-1042", "freshdesk-7"]


def test_unreadable_files_are_errors_not_exceptions(settings, blobs, tmp_path):
    """A missing file, an empty file, broken JSON and non-UTF-8 each give one error and the next file goes on."""
    empty, broken, latin = tmp_path / "empty.json", tmp_path / "broken.json", tmp_path / "latin.json"
    empty.write_text("  \n")
    broken.write_text('{"id": 1,')
    latin.write_bytes('{"subject": "caf\u00e9"}'.encode("latin-1"))
    outcomes = _outcomes([tmp_path / "missing.json", empty, broken, latin, PAYLOADS / "freshdesk_ticket.json"],
                         "freshdesk", settings, blobs)
    errors = [o[3] for o in outcomes]
    assert errors[0].startswith("cannot read") and "empty" in errors[1]
    assert "not valid JSON" in errors[2] and "not UTF-8" in errors[3]
    assert outcomes[4][1] == "freshdesk-1042"


def test_array_of_mixed_items(settings, blobs, tmp_path):
    """An export array whose items are of several kinds reports each by index."""
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps([load("zendesk_event_ticket_created.json"), load("zendesk_event_comment_added.json"), 5]))
    outcomes = _outcomes([path], "zendesk", settings, blobs)
    assert outcomes[0][1] == "zendesk-35437"
    assert outcomes[1][2] and "ticket.created" in outcomes[1][2]
    assert outcomes[2][0].endswith("#3") and outcomes[2][3].startswith("payload: not a zendesk payload")
