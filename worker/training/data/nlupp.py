"""NLU++ slot spans as training data for the entity tagger: loading, type mapping, BIO labels,
name augmentation.

NLU++ (``<data_dir>/nlupp/{banking,hotels}/fold0-9.json``) gives each example a ``text`` and
optional ``slots`` ({slot: {"text", "span": [start, end], ...}}, character offsets). Slots map to
our six entity types (:data:`SLOT_TYPES`); the others (adults, kids, rooms, number, ...) are
ignored. ``time_period`` ("overnight", "last 3 hours") is left out by default: tagging it as
``time`` was measured to cost time precision on folds 8-9 (see ``onnx_models/tagger/training.json``).

Labels are BIO over word-piece tokens: the first token that overlaps a span is ``B-<type>``, the
others ``I-<type>``; ``[CLS]``/``[SEP]`` and padding get :data:`IGNORE`. The runtime decodes them
back with :func:`worker.text.tagger.decode_spans`, so the two stay each other's inverse.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from worker.errors import TicketfusionError
from worker.text.tagger import LABELS

DOMAINS = ("banking", "hotels")
TRAIN_FOLDS = (0, 1, 2, 3, 4, 5, 6, 7)
VAL_FOLDS = (8, 9)
#: Label id of tokens the loss skips (special tokens, padding): torch's default ``ignore_index``.
IGNORE = -100
SLOT_TYPES = {
    "date": "date", "date_from": "date", "date_to": "date",
    "date_period": "date_range",
    "time": "time", "time_from": "time", "time_to": "time",
    "amount_of_money": "amount",
    "person_name": "person",
    "company_name": "company",
}
#: Optional extra mapping, off by default (it hurt time F1 on validation).
TIME_PERIOD = {"time_period": "time"}
NAME_TYPES = ("person", "company")
LABEL_IDS = {label: i for i, label in enumerate(LABELS)}


class NluppMissing(TicketfusionError, FileNotFoundError):
    """An NLU++ fold file is not where the data directory says it is."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        super().__init__(f"NLU++ fold not found: {self.path} (set TICKETFUSION_DATA_DIR or pass --data)")


@dataclass(frozen=True)
class Span:
    """A typed character span ``text[start:end]``."""

    type: str
    start: int
    end: int


@dataclass(frozen=True)
class Example:
    """A text and its gold spans (sorted by start); ``source`` says where it came from."""

    text: str
    spans: tuple[Span, ...]
    source: str = ""


def fold_path(data_dir: Path, domain: str, fold: int) -> Path:
    """``<data_dir>/nlupp/<domain>/fold<fold>.json`` (``data_dir`` may also be the nlupp folder)."""
    root = Path(data_dir)
    if (root / "nlupp").is_dir():
        root = root / "nlupp"
    return root / domain / f"fold{fold}.json"


def load_nlupp(data_dir: Path, *, folds: Iterable[int], domains: Sequence[str] = DOMAINS,
               time_period_as_time: bool = False) -> list[Example]:
    """Every example of the given folds and domains, in file order, slots mapped to our types."""
    mapping = {**SLOT_TYPES, **(TIME_PERIOD if time_period_as_time else {})}
    examples = []
    for domain in domains:
        for fold in folds:
            path = fold_path(data_dir, domain, fold)
            if not path.is_file():
                raise NluppMissing(path)
            for i, item in enumerate(json.loads(path.read_text(encoding="utf-8"))):
                text = item["text"]
                spans = []
                for slot, value in (item.get("slots") or {}).items():
                    if slot not in mapping:
                        continue
                    start, end = value["span"]
                    if text[start:end] != value["text"]:
                        raise ValueError(f"{path} #{i}: span {start}:{end} is not {value['text']!r}")
                    spans.append(Span(mapping[slot], start, end))
                examples.append(Example(text, tuple(sorted(spans, key=lambda s: s.start)),
                                        f"{domain}/fold{fold}#{i}"))
    return examples


def fold_files(data_dir: Path, *, folds: Iterable[int], domains: Sequence[str] = DOMAINS) -> list[Path]:
    """The fold files :func:`load_nlupp` reads, for recording their SHA-256."""
    return [fold_path(data_dir, d, f) for d in domains for f in folds]


def bio_labels(offsets: Sequence[tuple[int, int]], special: Sequence[int], spans: Sequence[Span]) -> list[int]:
    """One label id per token: B on a span's first overlapping token, I on the rest, O outside;
    special tokens (``special`` = the tokenizer's ``special_tokens_mask``) get :data:`IGNORE`."""
    labels = []
    started: set[int] = set()
    for (start, end), is_special in zip(offsets, special):
        if is_special:
            labels.append(IGNORE)
            continue
        label = "O"
        if end > start:
            for k, span in enumerate(spans):
                if start < span.end and end > span.start:
                    label = ("I-" if k in started else "B-") + span.type
                    started.add(k)
                    break
        labels.append(LABEL_IDS[label])
    return labels


def substitute(example: Example, new_text: Callable[[Span, str], str | None]) -> Example:
    """``example`` with each span's text replaced by ``new_text(span, old)`` (None keeps it);
    every span's offsets are moved to match the new text."""
    pieces, spans, cursor, shift = [], [], 0, 0
    for span in example.spans:
        old = example.text[span.start:span.end]
        new = new_text(span, old)
        new = old if new is None else new
        pieces.append(example.text[cursor:span.start])
        pieces.append(new)
        start = span.start + shift
        spans.append(replace(span, start=start, end=start + len(new)))
        shift += len(new) - len(old)
        cursor = span.end
    pieces.append(example.text[cursor:])
    return Example("".join(pieces), tuple(spans), example.source + "+aug")


#: Merchant-like endings for made-up company names ("Hartley Pharmacy"), beside faker's own.
_SHOP_WORDS = ("Coffee", "Books", "Travel", "Foods", "Pharmacy", "Market", "Motors", "Fitness",
               "Telecom", "Energy", "Insurance", "Electronics", "Bakery", "Garden Centre", "Cinemas")


def _cased(name: str, rng: random.Random) -> str:
    """NLU++ writes names in lower case about as often as in title case: mix both, some upper."""
    roll = rng.random()
    if roll < 0.45:
        return name.lower()
    if roll < 0.9:
        return name
    return name.upper()


def augment_names(examples: Iterable[Example], *, copies: int = 3, seed: int = 0,
                  locales: Sequence[str] = ("en_US", "en_GB", "es_ES", "fr_FR", "de_DE")) -> list[Example]:
    """``copies`` variants of every example with a person or company span, the names replaced by
    faker's (person: as many words as the original, 1 or 2; company: faker's or a merchant-like
    name), cased at random. Other spans and the sentence are kept."""
    from faker import Faker

    rng = random.Random(seed)
    fakers = []
    for i, locale in enumerate(locales):  # one seeded generator per locale: reproducible choices
        fakers.append(Faker(locale))
        fakers[-1].seed_instance(seed * 1000 + i)

    def new_name(span: Span, old: str) -> str | None:
        fake = rng.choice(fakers)
        if span.type == "person":
            words = len(old.split())
            name = fake.first_name() if words == 1 and rng.random() < 0.5 else (
                fake.last_name() if words == 1 else f"{fake.first_name()} {fake.last_name()}")
        elif span.type == "company":
            name = fake.company() if rng.random() < 0.5 else f"{fake.last_name()} {rng.choice(_SHOP_WORDS)}"
            name = name.replace(",", "").rstrip(". ")
        else:
            return None
        return _cased(name, rng)

    out = []
    for example in examples:
        if any(s.type in NAME_TYPES for s in example.spans):
            out.extend(substitute(example, new_name) for _ in range(copies))
    return out
