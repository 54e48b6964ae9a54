"""E-mail ingest: .eml files, folders, Maildir, mbox and an IMAP folder, to contract tickets.

``convert_paths`` backs ``ticketfusion convert email INPUT...``; ``poll_imap`` (or the two-step
``ImapInbox.fetch`` / ``mark_done``) backs ``ticketfusion ingest imap [--once]``. Every message
gives one :class:`~producers.conversion.Converted`: a ticket, a skip with its reason (bounce,
auto-reply, delivery report) or an error with its reason; nothing raises for one bad message.
"""

from producers.email.imap import Fetched, ImapConfig, ImapConfigError, ImapError, ImapInbox
from producers.email.message import convert_message
from producers.email.polling import PollReport, poll_imap
from producers.email.sources import convert_path, convert_paths

__all__ = [
    "Fetched",
    "ImapConfig",
    "ImapConfigError",
    "ImapError",
    "ImapInbox",
    "PollReport",
    "convert_message",
    "convert_path",
    "convert_paths",
    "poll_imap",
]
