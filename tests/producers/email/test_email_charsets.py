"""Decoding text bytes under a declared, wrong, unknown or missing charset."""

from __future__ import annotations

import pytest

from producers.email.charsets import clean_charset_name, decode_bytes, fix_surrogates

RUSSIAN = "Здравствуйте, моя карта не пришла уже две недели. Пожалуйста, помогите мне."
CHINESE = "你好，我的银行卡还没有收到，已经两个星期了。"
FRENCH = "Ma carte a été débitée deux fois pour le même achat à Zürich."


@pytest.mark.parametrize(
    ("text", "codec", "label"),
    [
        (RUSSIAN, "koi8_r", "koi8-r"),
        (RUSSIAN, "cp1251", "windows-1251"),
        (CHINESE, "gbk", "gb2312"),  # labelled gb2312, written with GBK characters
        ("钅钆", "gb18030", "gb2312"),
        ("①番 ～", "cp932", "shift_jis"),  # Microsoft's extensions under the standard label
        ("한국어 카드", "cp949", "ks_c_5601-1987"),
        (FRENCH, "cp1252", "iso-8859-1"),
        ("Price: 10 € – ok", "cp1252", "iso-8859-1"),  # euro sign and dash only exist in cp1252
        (FRENCH, "iso8859_15", "ISO-8859-15"),
    ],
)
def test_declared_legacy_charsets_decode_exactly(text: str, codec: str, label: str) -> None:
    """Each legacy charset, under the label mail clients really use, gives back the text."""
    assert decode_bytes(text.encode(codec), label).text == text


@pytest.mark.parametrize(
    ("text", "codec", "label"),
    [
        (FRENCH, "utf-8", "iso-8859-1"),
        (FRENCH, "utf-8", "us-ascii"),
        (RUSSIAN, "cp1251", "utf-8"),
        (FRENCH, "cp1252", "x-unknown"),
        (FRENCH, "cp1252", "unknown-8bit"),
        (CHINESE, "gb18030", None),
        (FRENCH, "utf-8", "no-such-charset"),
    ],
)
def test_wrong_or_missing_labels_fall_back_to_the_right_text(text: str, codec: str, label: str | None) -> None:
    """Mislabelled, unknown and missing charsets are detected, and the result says it fell back."""
    decoded = decode_bytes(text.encode(codec), label)
    assert decoded.text == text
    if label:
        assert decoded.note is not None


def test_undecodable_bytes_are_replaced_never_raised() -> None:
    """Bytes that fit no charset give text with replacement characters, not an exception."""
    decoded = decode_bytes(bytes(range(128, 256)) * 3, "utf-8")
    assert isinstance(decoded.text, str) and decoded.text


def test_bom_wins_over_the_label() -> None:
    """A UTF-16 text with its BOM decodes whatever the label claims."""
    assert decode_bytes("Grüße".encode("utf-16"), "iso-8859-1").text == "Grüße"


def test_charset_names_are_cleaned() -> None:
    """Quotes, case and stray characters in a charset parameter do not defeat the lookup."""
    assert clean_charset_name(' "UTF-8" ') == "utf-8"
    assert decode_bytes("é".encode(), '"UTF-8"').text == "é"


def test_surrogate_escaped_header_bytes_are_redecoded() -> None:
    """Raw 8-bit header bytes the parser kept as surrogates become real characters."""
    escaped = "Jörg".encode().decode("ascii", errors="surrogateescape")
    assert fix_surrogates(escaped) == "Jörg"
