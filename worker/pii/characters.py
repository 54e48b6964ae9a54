"""The characters that may stand between the digits of a number someone wants to hide.

Shared by the card and IBAN finders, so that both read "4111\u00a01111", "4111\u20131111" and
"4111\u200b1111" alike: any Unicode space (``str.isspace``: NBSP, thin, figure, ideographic...),
any Unicode dash (category Pd, the minus sign, the non-breaking hyphen...), ``/ _ , .`` with their
full-width and small forms and the middle dots, line breaks, and the invisible format characters
(zero-width space and joiners, word joiner, BOM, soft hyphen, bidi marks), which are skipped as if
they were not there. Any Unicode decimal digit (``str.isdecimal``: full-width, Arabic-Indic,
Devanagari...) is a digit.
"""

from __future__ import annotations

import unicodedata

__all__ = [
    "DASHES",
    "INVISIBLE",
    "LINE_BREAKS",
    "PUNCTUATION",
    "ascii_digits",
    "punctuation_class",
    "regex_class",
]


def _ranges(spec: str) -> frozenset[str]:
    """Characters from "00AD 200B-200F ..." (hex code points and ranges)."""
    chars: set[str] = set()
    for part in spec.split():
        first, _, last = part.partition("-")
        chars.update(chr(code) for code in range(int(first, 16), int(last or first, 16) + 1))
    return frozenset(chars)


# Unicode 14 category Cf, written out so that importing costs nothing.
_FORMAT = ("00AD 0600-0605 061C 06DD 070F 0890-0891 08E2 180E 200B-200F 202A-202E 2060-2064 2066-206F "
           "FEFF FFF9-FFFB 110BD 110CD 13430-13438 1BCA0-1BCA3 1D173-1D17A E0001 E0020-E007F")
# Unicode 14 category Pd.
_DASH_PUNCTUATION = ("002D 058A 05BE 1400 1806 2010-2015 2E17 2E1A 2E3A-2E3B 2E40 2E5D 301C 3030 30A0 "
                     "FE31-FE32 FE58 FE63 FF0D 10EAD")

#: Invisible format characters (category Cf: U+200B-U+200F, U+2060-U+2064, U+FEFF, U+00AD, bidi
#: controls...) and the variation selectors and other default-ignorable fillers.
INVISIBLE: frozenset[str] = _ranges(_FORMAT + " 034F 115F-1160 17B4-17B5 180B-180D 3164 FFA0 FE00-FE0F")

#: Every dash: category Pd, plus the minus signs and hyphen look-alikes outside it.
DASHES: frozenset[str] = _ranges(_DASH_PUNCTUATION + " 2212 2043 02D7 2796 207B 208B")

#: Line breaks as ``str.splitlines`` knows them (``\r\n`` counts as one).
LINE_BREAKS: frozenset[str] = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")

_SLASHES = "/\uff0f\u2044\u2215\u29f8"
_UNDERSCORES = "_\uff3f\u2017\ufe4d\ufe4e\ufe4f"
_COMMAS = ",\uff0c\u3001\ufe50\ufe51\u060c"
_DOTS = ".\uff0e\u3002\ufe52\u2024\uff61\u00b7\u2022\u2219\u22c5\u30fb\u0387"

#: The visible separators that are not spaces, with the class each stands for.
_CLASS_OF: dict[str, str] = {
    **{char: "-" for char in DASHES},
    **{char: "/" for char in _SLASHES},
    **{char: "_" for char in _UNDERSCORES},
    **{char: "," for char in _COMMAS},
    **{char: "." for char in _DOTS},
}
PUNCTUATION: frozenset[str] = frozenset(_CLASS_OF)


def punctuation_class(char: str) -> str:
    """``-``, ``/``, ``_``, ``,`` or ``.`` for a visible separator, else the character itself."""
    return _CLASS_OF.get(char, char)


def ascii_digits(text: str) -> str:
    """The decimal digits of ``text`` (any script) as ASCII, everything else dropped."""
    return "".join(str(unicodedata.decimal(char)) for char in text if char.isdecimal())


def regex_class(chars: frozenset[str] | str) -> str:
    """A regex character class body (no brackets) matching exactly ``chars``."""
    codes = sorted({ord(char) for char in chars})
    parts, index = [], 0
    while index < len(codes):
        first = last = codes[index]
        while index + 1 < len(codes) and codes[index + 1] == last + 1:
            index += 1
            last = codes[index]
        parts.append(f"\\U{first:08x}" if first == last else f"\\U{first:08x}-\\U{last:08x}")
        index += 1
    return "".join(parts)
