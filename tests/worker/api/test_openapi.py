"""Property-based run of the API's own OpenAPI document against the running server (schemathesis):
no 5xx, and every answer matches the status codes, content types and bodies the document declares."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance]
EXAMPLES = 30


@pytest.fixture(scope="session")
def api_schema(api: str):  # noqa: ANN201 - a schemathesis schema
    return schemathesis.openapi.from_url(f"{api}/openapi.json")


def test_api_keeps_its_document(api_schema, key: str) -> None:  # noqa: ANN001
    """Generated requests for every operation, valid and not, with a key: never a 5xx, never an
    undeclared status, content type or body."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case) -> None:  # noqa: ANN001
            case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)

        check()


def test_document_declares_every_refusal(api_schema) -> None:  # noqa: ANN001
    """Each ticket route declares the error body for the refusals it can give."""
    document = api_schema.raw_schema
    post = document["paths"]["/v1/tickets"]["post"]["responses"]
    assert {"202", "200", "400", "401", "403", "413", "415", "422", "429", "503"} <= set(post)
    assert post["401"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert "Ticket" in document["components"]["schemas"]
