"""The chrome filter: which OCR lines of a screenshot are interface, not the customer's words.

Text rules only (regex tables of headers, clocks, buttons, greetings, agent and stock dialog
phrases, and the predicates over them), kept apart from :mod:`worker.media.screenshots.message`, which
adds geometry and assembles the message, so that each can be read and tuned on its own.
"""

from __future__ import annotations

import re

from worker.media.screenshots.lines import OcrLine

DROP_HEADER = re.compile(
    r"^(from|to|cc|bcc|date|sent|reply-to|received)\s*[:：]", re.IGNORECASE
)
SUBJECT = re.compile(r"^(subject|subj)\s*[:：]\s*(?P<value>.*)$", re.IGNORECASE)
REPLY_PREFIX = re.compile(r"^((re|fwd?|aw|tr|wg)\s*[:：]\s*)+", re.IGNORECASE)
_EMAIL = r"[\w.+'-]+@[\w-]+(\.[\w-]+)+"
_EMAIL_ONLY = re.compile(  # an address, maybe after a name: "Jane Doe <jane@example.com>"
    rf"^(\"?[A-Z][\w.'-]*( [A-Z][\w.'-]*){{0,3}}\"?\s*)?[<(\[]?\s*{_EMAIL}\s*[>)\]]?[\s,;]*$"
)
# "to me", "to Support", "to support@acme.com": the recipient line under a sender in a mail client.
_RECIPIENT = re.compile(
    rf"^to\s+(me|[A-Z][\w.'-]*( [A-Z][\w.'-]*)?|[<(]?{_EMAIL}[>)]?)(,\s*(me|[A-Z][\w.'-]*))*$"
)
_URL_ONLY = re.compile(
    r"^[^\w]{0,3}(https?://|www\.)?([\w-]+\.)+(com|org|net|io|co|uk|de|fr|app|ai|dev|info|biz|eu|us)"
    r"(:\d+)?([/?#]\S*)?$|^(https?://|www\.)\S+$",
    re.IGNORECASE,
)
_CLOCK = r"\d{1,2}[:.]\d{2}([:.]\d{2})?\s*([ap]\.?\s?m\.?)?"
_MONTHS = (
    "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|june|july|"
    "august|september|october|november|december"
)
_DAYS = "mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
# Tokens that, alone or together, make a line a date, a clock, a status bar or a receipt.
_META_TOKEN = re.compile(
    rf"^({_CLOCK}|[ap]\.?m\.?|\d{{1,4}}([/.-]\d{{1,2}}([/.-]\d{{2,4}})?)?(st|nd|rd|th)?|"
    rf"{_MONTHS}|{_DAYS}|today|yesterday|now|just|ago|min|mins|minutes?|hours?|hrs?|days?|"
    rf"weeks?|at|on|and|the|\d{{1,3}}\s?%|lte|[345]g|wi-?fi|edited|delivered|read|seen|sent|"
    rf"received|typing|online|offline|active|unread|new|messages?|last)$",
    re.IGNORECASE,
)
_CHROME_PHRASES = {
    # mail and chat clients
    "reply", "reply all", "forward", "send", "sent", "inbox", "outbox", "drafts", "draft", "spam",
    "junk", "trash", "bin", "archive", "starred", "important", "compose", "new message",
    "new mail", "mark as read", "mark as unread", "mark read", "mark unread", "flag", "unflag",
    "move", "move to", "labels", "label", "snooze",
    "print", "print all", "to me", "me", "you", "attach", "attachment", "attachments",
    "download", "download all", "save", "share", "more", "back", "menu", "search", "search mail",
    "settings", "help", "delete", "edit", "copy", "paste", "undo", "done", "details",
    "show details", "hide details", "view details", "learn more", "see more", "show more",
    "primary", "promotions", "social", "updates", "favourites", "favorites", "folders",
    "chat", "chats", "live chat", "messages", "message", "contacts", "calls", "status",
    "end chat", "end conversation", "minimise", "minimize", "maximise", "maximize",
    "active now", "online", "offline", "typing", "typing...", "delivered", "read", "seen",
    "today", "yesterday", "now", "just now", "new", "unread", "emoji", "gif", "aa",
    # dialogs
    "ok", "okay", "cancel", "close", "retry", "try again", "yes", "no", "apply", "continue",
    "dismiss", "got it", "next", "previous", "skip", "submit", "confirm", "allow",
    "don't allow", "not now", "later", "remind me later", "report", "send report",
    "don't send", "ignore", "open", "exit", "quit",
    # window and browser chrome
    "file", "edit view", "view", "window", "tools", "history", "bookmarks", "format", "insert",
    "go", "new tab", "secure", "not secure",
    # support widget labels
    "support", "customer support", "customer service", "help center", "help centre",
    "help desk", "helpdesk", "support team", "support agent", "agent", "bot", "assistant",
    "virtual assistant", "chat with us", "powered by intercom", "powered by zendesk",
    "support chat", "rate this conversation", "conversation ended", "chat ended", "chat started",
    # app names seen alone in title bars
    "gmail", "outlook", "mail", "apple mail", "thunderbird", "whatsapp", "messenger",
    "telegram", "signal", "slack", "teams", "microsoft teams", "intercom", "zendesk",
    "freshdesk", "imessage", "sms", "google chrome", "chrome", "firefox", "safari", "edge",
}
_MENU_WORDS = {
    "file", "edit", "view", "window", "help", "tools", "history", "bookmarks", "format",
    "insert", "go", "profiles", "tab", "message", "mailbox",
}
# Words that say only "this is a support mail": a subject or label made of them alone carries no
# intent ("Help", "Question", "Re: my account", "Support request", "(no subject)").
_GENERIC_WORDS = {
    "help", "question", "questions", "query", "queries", "support", "request", "problem",
    "problems", "issue", "issues", "urgent", "account", "my", "hello", "hi", "enquiry", "inquiry",
    "no", "subject", "info", "information", "important", "customer", "service", "team", "ticket",
    "contact", "a", "re", "fwd", "fw", "needed", "assistance", "required",
}
# Tokens that label a number in an error or receipt line: "(code 491)", "Ref: 94B6-F654".
CODE_WORDS = {"code", "error", "err", "ref", "reference", "id", "no", "nr", "number", "txn"}
_PLACEHOLDER = re.compile(
    r"^(type|write|enter|send|compose|start typing|reply)\b.{0,30}\b(message|reply|here|text|"
    r"something|question)\b\W*$",
    re.IGNORECASE,
)
_WINDOW_TITLE = re.compile(
    r"[-–—|·]\s*(google chrome|chrome|mozilla firefox|firefox|safari|microsoft edge|edge|"
    r"outlook|gmail|mail|webmail|inbox|thunderbird|whatsapp|messenger|slack|teams)\s*$",
    re.IGNORECASE,
)
AGENT = re.compile(
    r"\bhow (can|may|could|shall) (we|i) (help|assist)\b|\bhow can we\b|"
    r"\bwhat can (we|i) (do for you|help( you)? with)\b|\bhelp you (with anything )?today\b|"
    r"^help you\b.{0,15}\?$|"
    r"\banything else (we|i) can\b|\bwelcome to\b|\b(joined|left) the (chat|conversation)\b|"
    r"\b(you are|you're) (now )?(chatting|connected|talking) (with|to)\b|"
    r"\b(agent|representative|advisor|someone) will be with you\b|"
    r"\bthank(s| you) for (contacting|reaching out|your patience|waiting|chatting|getting in touch)\b|"
    r"\bwe('ll| will) (reply|respond|get back)\b|\btypically replies\b|\breplies (in|within)\b|"
    r"\bhave a (great|nice|good|lovely) (day|evening|weekend)\b|\bsorry to hear\b|"
    r"\blet me (check|look)\b.*\bfor you\b|"
    # the tail of a wrapped agent question: "... What" / "can we help with?"
    r"^(what )?(can|may|could) (we|i) (help( you)?( with)?|assist( you)?|do for you)"
    r"( today)?\s*\?$",
    re.IGNORECASE,
)
SIGN_OFF = re.compile(
    r"^((best|kind|warm|warmest|with)\s+)?(regards|wishes|cheers|sincerely|thanks|thank you|"
    r"many\s*thanks|thanks in advance|best|respectfully|thank\s*you)\s*[,.!]*$|"
    r"^(yours|yours (sincerely|faithfully|truly)|(sincerely|faithfully|truly) yours)\s*[,.!]*$",
    re.IGNORECASE,
)
_GREETING = re.compile(
    r"^(hi|hello|hey|dear|good (morning|afternoon|evening)|greetings)"
    r"(( there| all| team| folks)?\s*[,!.]?|( [\w'-]+){1,3}\s*[,:])$|"
    r"^to whom it may concern\s*[,:.]?$",
    re.IGNORECASE,
)
# The addressee heading a note: "For the bank:", "To Acme Bank:", "Attn: Card services".
_ADDRESSEE = re.compile(
    r"^(For|To|FOR|TO) (the [\w'-]+( [\w'-]+)?|[A-Z][\w'-]*( [A-Z][\w'-]*){0,2})\s*:$|"
    r"^(Attn|ATTN|Attention)\b.{0,40}$"
)
# Everything under "On Mon, 4 Mar 2024, Support <...> wrote:" is the earlier, quoted, message.
QUOTE_START = re.compile(r"\bwrote\s*:$|^-+\s*original message\s*-+$", re.IGNORECASE)
FOOTER = re.compile(r"^sent from my \w+|^get outlook for\b|^sent with\b", re.IGNORECASE)
# Stock sentences of error dialogs, which name no problem of the customer's own. A whole sentence
# must be made of them: "Your card payment could not be completed" says what failed and stays.
_STOCK_CLAUSE = (
    r"(error|oops|whoops|uh[- ]?oh|sorry|"
    r"(an? )?((unexpected|unknown|internal|network|server|technical|system) )?(error|problem)"
    r"( has)? (occurred|occured|happened)|"
    r"something (went|has gone|is) wrong|"
    r"we (hit|ran into|encountered|had) (a|an|some) (problem|snag|issue|error|hiccup)|"
    r"there (was|has been|is) (a|an) (problem|issue|error)( on our (end|side))?|"
    r"(request|action|operation) failed|"
    r"unable to (continue|proceed)|(cannot|can't|could not|couldn't) (continue|proceed)|"
    r"(please )?try again( later| in a (few minutes|moment|minute|while)| shortly)?|"
    r"(please )?(contact|call|reach out to) (our )?(customer )?(support|service|us|help)( team)?|"
    r"(this|the|your) (action|request|operation) (could not|couldn't|cannot|can't) be "
    r"(completed|processed)|"
    r"we (could not|couldn't|can't|cannot|were unable to|are unable to) ?(process|complete) "
    r"(your|this|the) request|"
    r"(the )?service is (temporarily )?unavailable|"
    r"(please )?check your (internet |network )?connection)"
    r"( (right now|at this time|at the moment|for now))?"
)
# A chat stamp read into a bubble's line: "Chen·9:17 AM Do you ...", "... checks? 20:09 ✓✓".
_STAMP_RECEIPT = r"(delivered|read|seen|sent|edited)"
_STAMP_CLOCK = r"\d{1,2}:\d{2}(\s*[ap]\.?\s?m\.?)?"  # a colon: "4.99" is no clock
_LEADING_STAMP = re.compile(
    rf"^([A-Z][\w.'-]*( [A-Z][\w.'-]*)?\s*[·•]\s*)?{_STAMP_CLOCK}\s*([·•]\s*{_STAMP_RECEIPT}?\s*)?"
    r"(?=[A-Za-z])",
    re.IGNORECASE,
)
_TRAILING_STAMP = re.compile(
    rf"(?<=[.?!])\s*[·•]?\s*{_STAMP_CLOCK}(\s*[·•]?\s*{_STAMP_RECEIPT})?[\s✓✔]*$|"
    rf"\s*[·•]\s*{_STAMP_CLOCK}(\s*[·•]?\s*{_STAMP_RECEIPT})?[\s✓✔]*$",
    re.IGNORECASE,
)
# Spaces optional: OCR glues words ("This action could notbe completed.").
_STOCK = re.compile(rf"^{_STOCK_CLAUSE}( (or |and )?{_STOCK_CLAUSE})*$".replace(" ", " ?"))


def clean(text: str) -> str:
    """``text`` with runs of whitespace made one space and the ends trimmed."""
    return re.sub(r"\s+", " ", text).strip()


def is_header_label(text: str, labels: tuple[str, ...]) -> bool:
    """A bare mail header label ("From:", "Subject") among ``labels``, its value in another cell."""
    return text.rstrip(" :：").lower() in labels and len(text) <= 12


def is_chrome(line: OcrLine, image_size: tuple[int, int] | None) -> bool:
    """Whether one OCR line is interface rather than something the customer wrote."""
    text = clean(line.text)
    bare = re.sub(r"[^\w\s'%-]", "", text).strip().lower()
    words = bare.split()
    if sum(ch.isalnum() for ch in text) < 2 or text.startswith(">"):
        return True  # icons read as "<", "x", "≡", "+"; quoted lines
    if bare in _CHROME_PHRASES or text.lower().rstrip(".…") in _CHROME_PHRASES:
        return True
    if words and all(word in _MENU_WORDS for word in words) and len(words) >= 2:
        return True
    if _is_meta(text):
        return True  # "10:42", "9:41 AM", "87%", "Today", "Yesterday 18:03", "23/12/2024 9:31 PM"
    if _EMAIL_ONLY.match(text) or _URL_ONLY.match(text) or _PLACEHOLDER.match(text):
        return True
    if _WINDOW_TITLE.search(text) or AGENT.search(text) or _GREETING.match(text):
        return True
    if _ADDRESSEE.match(text) or DROP_HEADER.match(text):
        return True  # "For the bank:"; a header that is not first in its row
    if is_header_label(text, ("from", "to", "cc", "bcc", "date", "sent")):
        return True
    if _RECIPIENT.match(text) or (text.startswith("to ") and "@" in text and len(words) <= 5):
        return True  # "to Support", "to support @acme bank.com" (OCR spaces in an address)
    if _is_meta_with_name(text) or is_code_line(text):
        return True  # "Chen·9:17 AM", "14:33·Delivered", "-£81.08", "(code 491)", "Ref: 94B6-F654"
    if is_stock(text) or is_generic(text):
        return True  # "Request failed", "Please try again or contact support.", "(no subject)"
    if is_icon(text):
        return True  # avatar initials
    if image_size is not None and _in_bar(line, image_size) and is_short_label(text):
        return True
    return False


def is_icon(text: str) -> bool:
    """Avatar initials or an icon: one or two capitals, or under two letters and digits."""
    return bool(re.fullmatch(r"[A-Z]{1,2}", text.strip())) or sum(ch.isalnum() for ch in text) < 2


def is_code_line(text: str) -> bool:
    """Only amounts, numbers and codes, maybe labelled: "-£81.08", "(code 491)", "Error NET-417"."""
    tokens = [token for token in re.split(r"[\s:()\[\]#]+", text) if token]
    numbers = 0
    for token in tokens:
        if token.lower().rstrip(".") in CODE_WORDS:
            continue
        alnum = [ch for ch in token if ch.isalnum()]
        digits = sum(ch.isdigit() for ch in alnum)
        if not digits or (2 * digits < len(alnum) and any(ch.islower() for ch in alnum)):
            return False
        numbers += 1
    return numbers > 0


def strip_stamps(text: str) -> str:
    """``text`` without a leading "Name·9:17" or a trailing "20:09 ✓✓" stamp that OCR joined to it.

    A leading clock goes only with a dot or a name before it ("Chen·9:17 AM Do you ..."), a
    trailing one only after end punctuation or a dot: "we met at 10:42" keeps its time.
    """
    head = _LEADING_STAMP.match(text)
    if head and (head.group(1) or "·" in head.group(0) or "•" in head.group(0)):
        text = text[head.end():]
    return _TRAILING_STAMP.sub("", text).strip() or text


def is_amount(text: str) -> bool:
    """An amount of money: a currency sign or a figure with cents ("-£81.08", "1,204.50")."""
    return is_code_line(text) and bool(re.search(r"[£$€¥₹]|\d[.,]\d{2}$", text))


def _is_meta_with_name(text: str) -> bool:
    """A clock or receipt glued to a short name by a dot: "Chen·9:17 AM", "14:33·Delivered"."""
    parts = [part.strip() for part in re.split(r"[·•∙]", text) if part.strip()]
    if len(parts) < 2:
        return False
    metas = [part for part in parts if _is_meta(part)]
    return bool(metas) and all(_is_meta(part) or is_name_like(part) for part in parts)


def _is_meta(text: str) -> bool:
    """Only clock, date, status and receipt tokens ("Today, 9:26 AM", "23/12/2024", "Read")."""
    for drop in (r"[^\w\s'%-]", r"[^\w\s'%/:.-]"):  # "10:42" read as "10 42" or as a clock
        words = [word.strip(".,;:") for word in re.sub(drop, " ", text).lower().split()]
        words = [word for word in words if word]
        if words and all(_META_TOKEN.match(word) for word in words):
            return True
    return False


def is_stock(text: str) -> bool:
    """Only stock error-dialog text ("Oops!", "Please try again later."), punctuation aside."""
    plain = " ".join(re.sub(r"[^\w\s']", " ", text.lower().replace("’", "'")).split())
    return bool(plain) and bool(_STOCK.match(plain))


def is_generic(text: str) -> bool:
    """A short title of support words only: a generic subject ("Question", "Re: my account").

    Not the lowercase or full-stopped tail of a sentence ("... on my" / "account.").
    """
    value = REPLY_PREFIX.sub("", text)
    if value == text and (text[:1].islower() or re.search(r"[.?!]$", text)):
        return False
    words = re.sub(r"[^\w\s']", " ", value).lower().split()
    return 1 <= len(words) <= 4 and all(word in _GENERIC_WORDS for word in words)


def _in_bar(line: OcrLine, image_size: tuple[int, int]) -> bool:
    """In the top 10 % or bottom 8 % of a screenshot tall enough to have a title and an input bar."""
    height = image_size[1]
    if height < 250:
        return False
    centre = (line.box[1] + line.box[3]) / 2
    return centre < 0.10 * height or centre > 0.92 * height


def is_short_label(text: str) -> bool:
    """A title or button rather than a sentence: few words, no sentence punctuation."""
    return len(text.split()) <= 4 and len(text) <= 40 and not re.search(r"[.?!]$", text)


def is_title_label(text: str) -> bool:
    """Title Case, one to three words, no digits or punctuation: an app, window or sender name."""
    words = text.split()
    if not 1 <= len(words) <= 3 or re.search(r"[\d.,?!:;]", text):
        return False
    return all(word[:1].isupper() or word.lower() in _CONNECTORS for word in words)


_CONNECTORS = {"of", "and", "&", "the", "for", "de", "by"}


def is_name_like(text: str) -> bool:
    """One to three capitalised words: a sender's or contact's name."""
    words = text.split()
    return 1 <= len(words) <= 3 and all(re.fullmatch(r"[A-Z][\w.'-]*", word) for word in words)
