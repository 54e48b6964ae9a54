"""Turn the bytes of a text part into text, whatever charset it claims or hides.

Real mail lies about its charset: "gb2312" that is really GBK, "iso-8859-1" that is UTF-8 or
windows-1252, "us-ascii" with 8-bit bytes, names Python does not know ("x-unknown",
"unknown-8bit", "ks_c_5601-1987"). We try, in order, the declared charset through a table of
supersets, UTF-8, charset-normalizer's guess (when installed) and finally a lossy decode, and say
which one won so the ticket can record a fallback.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

# Declared name -> codecs to try, superset first (mail clients label by the smaller set).
_SUPERSETS: dict[str, tuple[str, ...]] = {
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "x-gbk": ("gb18030",),
    "gb_2312-80": ("gb18030",),
    "chinese": ("gb18030",),
    "cp936": ("gb18030",),
    "euc-cn": ("gb18030",),
    "big5": ("big5hkscs", "cp950"),
    "shift_jis": ("cp932", "shift_jis_2004"),
    "shift-jis": ("cp932",),
    "x-sjis": ("cp932",),
    "sjis": ("cp932",),
    "ms_kanji": ("cp932",),
    "windows-31j": ("cp932",),
    "euc-jp": ("euc_jis_2004", "euc_jp"),
    "iso-2022-jp": ("iso2022_jp_2", "iso2022_jp_ext"),
    "euc-kr": ("cp949",),
    "ks_c_5601-1987": ("cp949",),
    "ks_c_5601": ("cp949",),
    "iso-8859-1": ("cp1252", "latin-1"),
    "latin1": ("cp1252", "latin-1"),
    "latin-1": ("cp1252", "latin-1"),
    "iso-8859-9": ("cp1254", "iso8859-9"),
    "iso-8859-11": ("cp874",),
    "tis-620": ("cp874",),
    "windows-874": ("cp874",),
    "iso-8859-8-i": ("iso8859-8",),
    "x-mac-cyrillic": ("mac_cyrillic",),
    "x-mac-roman": ("mac_roman",),
    "macintosh": ("mac_roman",),
    "cp-850": ("cp850",),
    "utf8": ("utf-8",),
    "unicode-1-1-utf-7": ("utf-7",),
}
# Labels that say nothing about the bytes: go straight to detection.
_UNKNOWN = {"unknown-8bit", "x-unknown", "unknown", "x-user-defined", "default", "charset", "none", ""}
# Charsets whose every byte decodes: a UTF-8 text labelled so would decode "successfully" as junk.
_PERMISSIVE = {"us-ascii", "ascii", "iso-8859-1", "latin1", "latin-1", "cp1252", "windows-1252", "iso-8859-15"}
# Tie-break among equally good guesses: the code pages most mail was written in.
_MAIL_PREFERENCE = ("utf_8", "cp1252", "cp1251", "cp1250", "gb18030", "cp932", "big5", "cp949", "koi8_r", "cp1253",
                    "cp1254", "cp1255", "cp1256", "cp1257", "cp874")
_NAME = re.compile(r"[^a-z0-9_.:+-]")
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


@dataclass(frozen=True)
class Decoded:
    """Decoded text, the codec that produced it, and a note when it was not the declared one."""

    text: str
    codec: str
    note: str | None = None


def clean_charset_name(name: str | None) -> str:
    """A declared charset as a plain lower-case name (``'"UTF-8"'`` -> ``'utf-8'``)."""
    return _NAME.sub("", (name or "").strip().strip("\"'").lower())


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _known(codec: str) -> bool:
    try:
        codecs.lookup(codec)
    except LookupError:
        return False
    return True


def _candidates(declared: str) -> list[str]:
    names = list(_SUPERSETS.get(declared, ()))
    if declared not in _UNKNOWN and _known(declared):
        names.append(declared)
    return names


def _guess(data: bytes) -> Decoded | None:
    """charset-normalizer's best guess, when the package is installed (it usually is: requests).

    Short texts tie between code pages that decode them equally well (French in cp1250 and
    cp1252); among tied guesses the one most used in mail wins.
    """
    try:
        import charset_normalizer
    except ImportError:  # pragma: no cover - optional
        return None
    try:
        matches = list(charset_normalizer.from_bytes(data))
    except Exception:  # noqa: BLE001 - a detector bug must not lose the message
        return None
    if not matches:
        return None
    best = matches[0]
    tied = [m for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)]
    names = {name for m in tied for name in [m.encoding, *m.could_be_from_charset]}
    codec = next((name for name in _MAIL_PREFERENCE if name in names), best.encoding)
    text = _strict(data, codec)
    return Decoded(text, codec) if text is not None else Decoded(str(best), best.encoding)


def decode_bytes(data: bytes, declared: str | None) -> Decoded:
    """Decode ``data`` labelled ``declared``; never raises, never returns surrogates."""
    if not data:
        return Decoded("", "ascii")
    label = clean_charset_name(declared)
    for bom, codec in _BOMS:
        if data.startswith(bom):
            text = _strict(data, codec)
            if text is not None:
                note = None if label.startswith("utf") else f"charset {label or 'none'}: BOM says {codec}"
                return Decoded(text, codec, note)
    seven_bit = label in {"utf-7", "iso-2022-jp", "iso-2022-kr", "hz-gb-2312"} or label.startswith("iso-2022")
    if data.isascii() and not seven_bit:
        return Decoded(data.decode("ascii"), "ascii")
    if label in _PERMISSIVE or not label:
        text = _strict(data, "utf-8")
        if text is not None:  # multi-byte UTF-8 does not happen by accident in Latin text
            return Decoded(text, "utf-8", f"charset {label or 'none'}: bytes are UTF-8" if label else None)
    for codec in _candidates(label):
        text = _strict(data, codec)
        if text is not None:
            return Decoded(text, codec)
    text = _strict(data, "utf-8")
    if text is not None:
        return Decoded(text, "utf-8", f"charset {label or 'none'}: decoded as utf-8")
    guess = _guess(data)
    if guess is not None:
        return Decoded(guess.text, guess.codec, f"charset {label or 'none'}: detected {guess.codec}")
    codec = next(iter(_candidates(label)), "utf-8")
    note = f"charset {label or 'none'}: undecodable bytes replaced"
    return Decoded(data.decode(codec, errors="replace"), codec, note)


def fix_surrogates(text: str) -> str:
    """Re-decode the surrogate-escaped bytes the parser leaves for raw 8-bit headers."""
    if not any("\udc80" <= char <= "\udcff" for char in text):
        return text
    try:
        raw = text.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:  # a surrogate that is no escaped byte
        return text.encode("utf-8", errors="replace").decode("utf-8")
    return decode_bytes(raw, None).text
