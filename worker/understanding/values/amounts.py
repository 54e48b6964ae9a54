"""``parse_amount``: an amount of money and its ISO currency.

Reads symbols and words for currencies ("£900", "80.24 pounds", "fifty dollars"), thousands
separators, decimal commas and multipliers ("2k", "1.5 million").
"""

from __future__ import annotations

import re
from typing import Any

from worker.understanding.values.words import _number_words

_CURRENCY_SYMBOLS = {
    "us$": "USD", "a$": "AUD", "au$": "AUD", "c$": "CAD", "ca$": "CAD", "nz$": "NZD", "hk$": "HKD",
    "£": "GBP", "$": "USD", "€": "EUR", "¥": "JPY", "₹": "INR", "₩": "KRW", "₽": "RUB", "₺": "TRY",
    "zł": "PLN", "kr": "SEK",
}
_CURRENCY_WORDS = {
    "pounds sterling": "GBP", "pound sterling": "GBP", "pounds": "GBP", "pound": "GBP",
    "quid": "GBP", "sterling": "GBP", "gbp": "GBP", "pence": "GBP", "p": "GBP",
    "us dollars": "USD", "dollars": "USD", "dollar": "USD", "bucks": "USD", "usd": "USD",
    "euros": "EUR", "euro": "EUR", "eur": "EUR", "yen": "JPY", "jpy": "JPY",
    "swiss francs": "CHF", "francs": "CHF", "franc": "CHF", "chf": "CHF",
    "rupees": "INR", "rupee": "INR", "inr": "INR", "cad": "CAD", "aud": "AUD", "nzd": "NZD",
    "sek": "SEK", "nok": "NOK", "dkk": "DKK", "pln": "PLN", "zloty": "PLN", "czk": "CZK",
    "huf": "HUF", "zar": "ZAR", "sgd": "SGD", "hkd": "HKD", "cny": "CNY", "rmb": "CNY",
    "yuan": "CNY", "mxn": "MXN", "brl": "BRL", "try": "TRY", "rub": "RUB", "krw": "KRW",
    "cents": None, "cent": None,
}
_SUBUNITS = {"pence", "p", "cents", "cent"}
_MULTIPLIERS = {"k": 1_000, "thousand": 1_000, "grand": 1_000, "m": 1_000_000, "mn": 1_000_000,
                "million": 1_000_000, "bn": 1_000_000_000, "billion": 1_000_000_000}
_AMOUNT_NUMBER = re.compile(r"\d{1,3}(?:([,.  ])\d{3})(?:\1\d{3})*(?:[.,]\d{1,2})?(?!\d)|\d+(?:[.,]\d+)?")


def _number_value(raw: str) -> float | None:
    """A written number with thousands separators and a decimal point or comma."""
    raw = raw.replace(" ", "").replace("\u00a0", "").replace("\u202f", "")
    if "," in raw and "." in raw:
        decimal = "," if raw.rfind(",") > raw.rfind(".") else "."
        thousands = "." if decimal == "," else ","
        raw = raw.replace(thousands, "").replace(decimal, ".")
    elif "," in raw:
        head, _, tail = raw.rpartition(",")
        raw = raw.replace(",", "") if len(tail) == 3 else head.replace(",", "") + "." + tail
    elif raw.count(".") > 1:
        raw = raw.replace(".", "")
    try:
        return float(raw)
    except ValueError:
        return None


def parse_amount(text: str) -> dict[str, Any] | None:
    """Amount and ISO currency ("£900" -> 900.0 GBP); currency is None when the span names none."""
    try:
        return _parse_amount(text)
    except (ValueError, OverflowError, TypeError):
        return None


def _parse_amount(text: str) -> dict[str, Any] | None:
    if not isinstance(text, str) or not text.strip() or len(text) > 100:
        return None
    normal = text.lower().replace("\u00a0", " ").strip()
    currency, subunit = None, False
    for symbol in sorted(_CURRENCY_SYMBOLS, key=len, reverse=True):
        if symbol.isalpha():
            if re.search(rf"(?<![a-z]){re.escape(symbol)}(?![a-z])", normal):
                currency = _CURRENCY_SYMBOLS[symbol]
                normal = re.sub(rf"(?<![a-z]){re.escape(symbol)}(?![a-z])", " ", normal)
                break
        elif symbol in normal:
            currency = _CURRENCY_SYMBOLS[symbol]
            normal = normal.replace(symbol, " ")
            break
    if currency is None:
        for word in sorted(_CURRENCY_WORDS, key=len, reverse=True):
            pattern = rf"(?<![a-z]){re.escape(word)}(?![a-z])"
            if re.search(pattern, normal):
                currency, subunit = _CURRENCY_WORDS[word], word in _SUBUNITS
                normal = re.sub(pattern, " ", normal)
                break
    normal = " ".join(normal.replace("-", " ").split())
    value = _amount_number(normal)
    if value is None:
        return None
    if subunit:
        value /= 100
    return {"amount": round(value, 2), "currency": currency}


def _amount_number(text: str) -> float | None:
    text = re.sub(r"^(?:about|around|roughly|approximately|approx|over|under|nearly|almost|just|only|some|exactly)\s+",
                  "", text)
    if match := _AMOUNT_NUMBER.search(text):
        value = _number_value(match.group(0))
        rest = text[match.end():].strip().split(" ")[0] if text[match.end():].strip() else ""
        if value is not None and rest in _MULTIPLIERS:
            value *= _MULTIPLIERS[rest]
        elif value is not None and (tail := re.match(r"\s*(k|m|mn|bn)\b", text[match.end():])):
            value *= _MULTIPLIERS[tail.group(1)]
        return value
    words = [w for w in re.split(r"[ -]+", text) if w]
    return _number_words(words) if words else None
