"""Customer ids from a requester's e-mail address or phone number, without keeping either.

The contract forbids an e-mail address as an id (ids travel into logs, Redis and the CRM), so a
requester known only by address or number becomes a keyed hash of it. The hash is not prefixed
by the help desk: the same address gives the same customer id from Zendesk, Freshdesk, any
other mapping or an e-mail (``producers.email.identity`` calls this function too), so one
customer's history stays one history. Set ``customer_hash_key`` so that nobody can confirm a
guessed address by hashing it.
"""

from __future__ import annotations

from worker.pii.identities import hash_customer, looks_like_contact

__all__ = ["hash_customer", "looks_like_contact"]
