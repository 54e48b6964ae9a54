"""Recognise mail that no person wrote to us: bounces, delivery reports, auto-replies.

Triaging these would answer a robot (and an auto-reply answering an auto-reply loops), so the
converter skips them with a reason. Signals, most certain first: a ``multipart/report``
(RFC 6522) or a ``message/delivery-status`` part (RFC 3464); ``X-Failed-Recipients`` (Exim);
a MAILER-DAEMON or postmaster sender; ``Auto-Submitted`` other than ``no`` (RFC 3834);
the ``X-Autoreply``/``X-Autorespond`` family and ``Precedence: auto_reply|bulk|junk``; an
out-of-office subject in one of a dozen languages; a null Return-Path; and last the heuristic
bounce detectors of ``flufl.bounce`` (GNU Mailman's), which know the non-standard formats of
qmail, Exchange, Yahoo and others.
"""

from __future__ import annotations

import logging
import re
from email.message import Message

from producers.email.headers import iter_parts, parse_message, raw_header
from producers.email.mimetree import content_type
from producers.email.textparts import content_param

FLUFL_MAX_BYTES = 5 * 1024 * 1024
FLUFL_MAX_PARTS = 50
_DAEMONS = {"mailer-daemon", "mailerdaemon", "mail-daemon", "postmaster", "mail.delivery.subsystem"}
_AUTO_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Autoreply-From", "X-Mail-Autoreply")
_PRECEDENCE = {"auto_reply", "auto-reply", "bulk", "junk"}
_OUT_OF_OFFICE = re.compile(
    r"^\s*(?:(?:re|aw|sv|antw|fw|fwd)\s*:\s*)?(?:"
    r"out of (?:the )?office|auto(?:matic)?[ -]?reply|auto[ -]?response|abwesenheitsnotiz|"
    r"automatische antwort|r[ée]ponse automatique|absence du bureau|message d'absence|"
    r"respuesta autom[áa]tica|fuera de la oficina|resposta autom[áa]tica|risposta automatica|"
    r"automatisch antwoord|autosvar|automatisk svar|automaattinen vastaus|automatyczna odpowied[źz]|"
    r"automatick[áa] odpov[ěe][ďd]|otomatik yan[ıi]t|автоответ|автоматический ответ|"
    r"αυτόματη απάντηση|自动回复|自動回覆|自動応答|自動返信|자동 응답|자동 회신"
    r")(?:\s+auto-?reply)?\s*(?:[:：\-–(\[]|$)"
    r"|^\s*auto:.*\bout of (?:the )?office\b",
    re.IGNORECASE,
)
# The detectors log every run at INFO and every exception they raise (which we catch) at ERROR.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)


def _report_reason(msg: Message) -> str | None:
    if content_type(msg) == "multipart/report":
        report = content_param(msg, "report-type")
        if report in ("delivery-status", "global-delivery-status"):
            return f"bounce: multipart/report ({report})"
        if report in ("disposition-notification", "global-disposition-notification"):
            return f"read_receipt: multipart/report ({report})"
        if report == "feedback-report":
            return "feedback_report: multipart/report (feedback-report)"
        return f"report: multipart/report ({report or 'no report-type'})"
    for part in iter_parts(msg):
        if content_type(part) in ("message/delivery-status", "message/global-delivery-status"):
            return f"bounce: {content_type(part)} part"
    return None


def _header_reason(msg: Message, sender: str | None) -> str | None:
    if raw_header(msg, "X-Failed-Recipients") is not None:
        return "bounce: X-Failed-Recipients header"
    local = (sender or "").split("@", 1)[0].strip().lower()
    if local in _DAEMONS:
        return f"bounce: sender {local}"
    auto = (raw_header(msg, "Auto-Submitted") or "").split(";", 1)[0].strip().lower()
    if auto and auto != "no":
        code = "auto_reply" if auto == "auto-replied" else "auto_generated"
        return f"{code}: Auto-Submitted: {auto[:40]}"
    for name in _AUTO_HEADERS:
        value = raw_header(msg, name)
        if value is not None and value.strip().lower() not in ("no", "false", "0"):
            return f"auto_reply: {name} header"
    for name in ("Precedence", "X-Precedence"):
        precedence = (raw_header(msg, name) or "").strip().lower()
        if precedence in _PRECEDENCE:
            code = "bulk" if precedence in ("bulk", "junk") else "auto_reply"
            return f"{code}: {name}: {precedence}"
    return None


def _flufl_reason(msg: Message, data: bytes) -> str | None:
    """The heuristic detectors; they want a compat32 tree (bytes addresses), as their docs say.
    Bounces are small; a large or many-part message is not parsed again just to ask them."""
    if len(data) > FLUFL_MAX_BYTES or sum(1 for _ in iter_parts(msg, limit=FLUFL_MAX_PARTS + 1)) > FLUFL_MAX_PARTS:
        return None
    try:
        from flufl.bounce import all_failures
    except ImportError:  # pragma: no cover - a declared dependency; tolerate its absence
        return None
    try:
        temporary, permanent = all_failures(parse_message(data, modern=False))
    except Exception:  # noqa: BLE001 - a detector that trips over odd mail is no verdict
        return None
    if permanent:
        return "bounce: permanent delivery failure (flufl.bounce)"
    if temporary:
        return "bounce: delayed delivery warning (flufl.bounce)"
    return None


def skip_reason(msg: Message, *, data: bytes, subject: str, sender: str | None) -> str | None:
    """Why this message is not a customer's ticket, as ``"code: detail"``; None for a real one."""
    reason = _report_reason(msg) or _header_reason(msg, sender)
    if reason:
        return reason
    if _OUT_OF_OFFICE.search(subject):
        return "out_of_office: subject says so"
    if (raw_header(msg, "Return-Path") or "").strip() == "<>":
        return "auto_generated: null Return-Path (<>)"
    return _flufl_reason(msg, data)
