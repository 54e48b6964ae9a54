"""E-mail addresses: any legal local part, quoted or not, Unicode domains, and addresses spaced
or spelled out to slip past a filter ("john . doe @ example . com", "jane(at)bank(dot)co(dot)uk").

* Plain: RFC 5322 ``atext`` (letters of any script, digits and ``!#$%&'*+-/=?^_`{|}~``), dots
  between; or a quoted local part (``"john doe"@example.com``, with ``\\"`` escapes); a domain of
  Unicode labels ending in a top-level domain of two or more letters or a punycode ``xn--`` one,
  or an address literal (``user@[192.0.2.1]``). Full-width and small commercial ats count.
* Spaced or spelled out: the same local part, then ``@`` with spaces around it or ``(at)``,
  ``[at]``, ``<at>``, then labels joined by ``.`` with spaces or ``(dot)``, ``[dot]``, `` dot ``
  (``{at}`` is no marker: braces are legal in a local part). Words are spaced in ordinary text
  too, so such an address must end in a known top-level domain (:data:`SPELLED_TLDS`), and the
  bare word "at" never makes one ("I bought it at amazon.com").
"""

from __future__ import annotations

import re

__all__ = ["SPELLED_TLDS", "email_matches"]

_ATEXT = r"[\w!#$%&'*+/=?^`{|}~-]"
_AT = "@\uff20\ufe6b"
_LOCAL = rf"{_ATEXT}++(?:\.{_ATEXT}++)*+"
_QUOTED = r'"(?:[^"\\\r\n]|\\[^\r\n]){1,64}+"'
_LABEL = r"[^\W_](?:[\w-]{0,62}+(?<!-))?"
_TLD = r"(?:[^\W\d_]{2,63}+|xn--[a-z0-9-]{1,59}+)"
_LITERAL = r"\[(?:IPv6:[0-9A-Fa-f:.]{2,45}|\d{1,3}(?:\.\d{1,3}){3})\]"

PLAIN = re.compile(
    rf"(?<![\w.!#$%&'*+/=?^`{{|}}~-])(?:{_LOCAL}|{_QUOTED})[{_AT}]"
    rf"(?:{_LABEL}(?:\.{_LABEL})*\.{_TLD}(?![\w-])|{_LITERAL})",
    re.IGNORECASE,
)

_SPELLED_AT = rf"(?:[ \t]+[{_AT}][ \t]*|[ \t]*[{_AT}][ \t]+|[ \t]*[(\[<][ \t]*at[ \t]*[)\]>][ \t]*)"
_SPELLED_DOT = r"(?:[ \t]*\.[ \t]*|[ \t]*[(\[<][ \t]*dot[ \t]*[)\]>][ \t]*|[ \t]+dot[ \t]+)"
_SPELLED_LOCAL_DOT = r"(?:[ \t]*\.[ \t]*|[ \t]*[(\[<][ \t]*dot[ \t]*[)\]>][ \t]*)"
SPELLED = re.compile(
    rf"(?<![\w.!#$%&'*+/=?^`{{|}}~-])(?P<local>{_ATEXT}++(?:{_SPELLED_LOCAL_DOT}{_ATEXT}++)*+|{_QUOTED})"
    rf"(?P<at>{_SPELLED_AT}|[{_AT}])(?P<domain>{_LABEL}(?:{_SPELLED_DOT}{_LABEL}){{1,6}}+)",
    re.IGNORECASE,
)
_DOMAIN_DOT = re.compile(_SPELLED_DOT, re.IGNORECASE)
_LOCAL_DOT = re.compile(_SPELLED_LOCAL_DOT, re.IGNORECASE)

#: Top-level domains a spaced or spelled-out address must end in.
SPELLED_TLDS = frozenset("""
    com net org edu gov mil int info biz name pro mobi io co ai app dev me tv cc ws xyz online site
    shop store tech cloud email mail eu asia uk de fr es it nl be ch at se no dk fi is ie pt pl cz
    sk hu ro bg gr hr si rs ua by ru kz lt lv ee lu mt cy tr il ae sa qa eg ma za ng ke in pk bd lk
    cn jp kr tw hk sg my th vn id ph au nz ca us mx br ar cl pe uy
""".split())


def email_matches(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, address)`` for each e-mail address, the address as it would be typed."""
    found = [(m.start(), m.end(), m.group(0)) for m in PLAIN.finditer(text)]
    for match in SPELLED.finditer(text):
        start, end = match.start(), match.end()
        if any(start < other_end and other_start < end for other_start, other_end, _ in found):
            continue
        labels, pieces, cursor = [], [], match.start("domain")
        for dot in _DOMAIN_DOT.finditer(text, cursor, match.end("domain")):
            labels.append((cursor, dot.start()))
            pieces.append(dot)
            cursor = dot.end()
        labels.append((cursor, match.end("domain")))
        # The address ends at its last label that is a known top-level domain.
        while len(labels) > 1 and text[labels[-1][0]:labels[-1][1]].lower() not in SPELLED_TLDS:
            labels.pop()
        if len(labels) < 2:
            continue
        end = labels[-1][1]
        local = _LOCAL_DOT.sub(".", match.group("local"))
        domain = ".".join(text[a:b] for a, b in labels)
        found.append((start, end, f"{local}@{domain}"))
    return sorted(found)
