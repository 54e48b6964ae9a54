"""Help-desk adapters by mapping file, not code per vendor (docs/mappings.md).

A mapping is a YAML file that says how to recognise a source's JSON and where each contract
field is in it; ``zendesk`` and ``freshdesk`` ship built in. ``convert_payload`` turns one
webhook delivery into a :class:`~producers.conversion.Converted`, ``convert_files`` does the same
for exports, one per ticket. Remote attachments are fetched only from allow-listed hosts.
"""

from producers.mappings.convert import convert_files, convert_payload, payload_to_ticket
from producers.mappings.customers import hash_customer
from producers.mappings.errors import InvalidMapping, MappingError, PayloadNotRecognised, UnknownMapping
from producers.mappings.extraction import RemoteAttachment
from producers.mappings.fetching import AttachmentFetcher, Skip
from producers.mappings.loading import BUILTIN_MAPPINGS, builtin_mappings, load_mapping, mapping_from_data
from producers.mappings.spec import Mapping
from producers.mappings.url_policy import HostPolicy


def detect_mapping(payload: object) -> Mapping | None:
    """The built-in mapping that recognises ``payload`` (Zendesk or Freshdesk), or None."""
    return next((mapping for mapping in builtin_mappings() if mapping.match(payload) is not None), None)


__all__ = [
    "BUILTIN_MAPPINGS",
    "AttachmentFetcher",
    "HostPolicy",
    "InvalidMapping",
    "Mapping",
    "MappingError",
    "PayloadNotRecognised",
    "RemoteAttachment",
    "Skip",
    "UnknownMapping",
    "builtin_mappings",
    "convert_files",
    "convert_payload",
    "detect_mapping",
    "hash_customer",
    "load_mapping",
    "mapping_from_data",
    "payload_to_ticket",
]
