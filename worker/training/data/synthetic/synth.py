"""A synthetic multimodal set made from Banking77: screenshots and voice notes of its queries.

``ticketfusion data synth`` calls :func:`synthesize`. It splits Banking77 the way the intent model
was trained (:func:`worker.training.data.splits.load_split`: stratified 90/10, seed 13) and renders
screenshots (:mod:`worker.training.data.synthetic.screens`) and voice notes (:mod:`worker.training.data.synthetic.voices`) of the
**train** split's texts for the train items and of the **val** split's texts only for the val items,
so validation never shows the models a query they were trained on. Each item is paired with a vague
ticket body (:mod:`worker.training.data.synthetic.vague`) whose phrasings also differ between the splits.

Output, in ``out/``::

    screenshots/screenshot-train-00012.png     (or .jpg)
    voices/voice-val-00003.m4a                 (wav, flac, ogg, mp3 or m4a)
    manifest.jsonl                             one JSON object per item, written last (temp + rename)
    synth.json                                 arguments, counts, the data file's sha256, fonts, voices

Labels go round-robin over the intents (in an order shuffled by the seed), so every intent appears
once ``n >= 77``; each intent's texts are used in a seeded order before any repeats. Item ``i`` of a
kind and split draws everything from ``random.Random(f"{seed}-{split}-{kind}-{i}")``, so a seed (with
the same fonts and espeak-ng) gives the same files and the same manifest, with or without workers.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from worker.training.data.splits import (
    SPLIT_SEED,
    VAL_FRACTION,
    Split,
    default_paths,
    load_split,
    sha256_file,
)

KINDS = ("screenshot", "voice")
SPLITS = ("train", "val")
FOLDERS = {"screenshot": "screenshots", "voice": "voices"}


@dataclass(frozen=True)
class SynthReport:
    """What :func:`synthesize` wrote: items per kind and split, how long it took, where."""

    out: Path
    counts: dict[str, dict[str, int]]
    items: int
    seconds: float
    manifest: Path
    fonts: int = 0
    voices: int = 0

    def __str__(self) -> str:
        parts = ", ".join(f"{kind} {c.get('train', 0)} train / {c.get('val', 0)} val" for kind, c in self.counts.items())
        rate = f" ({self.seconds / self.items:.2f} s/item)" if self.items else ""
        return f"{self.items} items in {self.seconds:.1f} s{rate}: {parts}; manifest {self.manifest}"

    def __rich__(self) -> str:
        return str(self)


@dataclass(frozen=True)
class ItemSpec:
    """One item to render: which text, from which split, as what."""

    id: str
    kind: str
    split: str
    index: int
    label: str
    text: str


@dataclass
class _Assets:
    seed: int
    out: Path
    fonts: list[Path] = field(default_factory=list)
    voices: list[str] = field(default_factory=list)


def item_id(kind: str, split: str, index: int) -> str:
    """``screenshot-train-00012``."""
    return f"{kind}-{split}-{index:05d}"


def item_rng(seed: int, split: str, kind: str, index: int) -> random.Random:
    """The item's own random stream: ``random.Random(f"{seed}-{split}-{kind}-{index}")``."""
    return random.Random(f"{seed}-{split}-{kind}-{index}")


def plan_items(split: Split, *, seed: int, kinds: Sequence[str], n_train: int, n_val: int) -> list[ItemSpec]:
    """The items to render: per kind and split, labels round-robin, texts only from that split."""
    sources = {"train": (split.train_texts, split.train_targets, n_train),
               "val": (split.val_texts, split.val_targets, n_val)}
    items: list[ItemSpec] = []
    for kind in kinds:
        for split_name in SPLITS:
            texts, targets, n = sources[split_name]
            if n <= 0:
                continue
            by_label: dict[str, list[int]] = defaultdict(list)
            for i, target in enumerate(targets):
                by_label[target].append(i)
            order = random.Random(f"{seed}-{split_name}-{kind}-plan")
            labels = sorted(by_label)
            order.shuffle(labels)
            pools = {label: order.sample(by_label[label], len(by_label[label])) for label in sorted(by_label)}
            for index in range(n):
                label = labels[index % len(labels)]
                pool = pools[label]
                text = texts[pool[(index // len(labels)) % len(pool)]]
                items.append(ItemSpec(item_id(kind, split_name, index), kind, split_name, index, label, text))
    return items


_ASSETS: _Assets | None = None


def _init_worker(assets: _Assets) -> None:
    global _ASSETS
    _ASSETS = assets


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def make_item(spec: ItemSpec, assets: _Assets | None = None) -> dict:
    """Render one item, write its file and return its manifest record."""
    from worker.training.data.synthetic.vague import vague_subject, vague_text

    assets = assets or _ASSETS
    if assets is None:
        raise RuntimeError("make_item needs assets (fonts, voices, out)")
    rng = item_rng(assets.seed, spec.split, spec.kind, spec.index)
    if spec.kind == "screenshot":
        from worker.training.data.synthetic.screens import (
            encode_image,
            render_screenshot,
        )

        image, params = render_screenshot(spec.text, rng, fonts=assets.fonts)
        data, ext = encode_image(image, params)
    elif spec.kind == "voice":
        from worker.training.data.synthetic.voices import render_voice

        data, ext, params = render_voice(spec.text, rng, voices=assets.voices)
    else:
        raise ValueError(f"unknown kind {spec.kind!r}")
    folder = assets.out / FOLDERS[spec.kind]
    path = folder / f"{spec.id}.{ext}"
    for stale in folder.glob(f"{spec.id}.*"):  # an earlier run's file in another format
        if stale != path:
            stale.unlink()
    _write_atomic(path, data)
    vague_rng = random.Random(f"{assets.seed}-{spec.split}-{spec.kind}-{spec.index}-vague")
    return {
        "id": spec.id,
        "split": spec.split,
        "kind": spec.kind,
        "label": spec.label,
        "text": spec.text,
        "vague_text": vague_text(spec.kind, spec.split, vague_rng),
        "vague_subject": vague_subject(spec.split, vague_rng),
        "file": f"{FOLDERS[spec.kind]}/{path.name}",
        "params": params,
    }


def _progress(enabled: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), disable=not enabled)


def _run(items: list[ItemSpec], assets: _Assets, workers: int, progress: bool) -> Iterator[dict]:
    with _progress(progress) as bar:
        task = bar.add_task("synthesising", total=len(items))
        if workers <= 1:
            for spec in items:
                yield make_item(spec, assets)
                bar.advance(task)
            return
        import multiprocessing

        # spawn: no fork of a process holding threads (rich's refresher) or locks
        context = multiprocessing.get_context("spawn")
        with context.Pool(workers, initializer=_init_worker, initargs=(assets,)) as pool:
            for record in pool.imap(make_item, items, chunksize=4):
                yield record
                bar.advance(task)


def _espeak_version() -> str | None:
    try:
        from worker.training.data.synthetic.voices import espeak_path

        return subprocess.run([espeak_path(), "--version"], capture_output=True, text=True, check=False).stdout.strip()
    except Exception:  # noqa: BLE001 - only a note in synth.json
        return None


def synthesize(
    *,
    out: Path,
    data_dir: Path | None,
    n_train: int,
    n_val: int,
    seed: int = 3,
    kinds: Sequence[str] = KINDS,
    workers: int = 1,
    progress: bool = True,
) -> SynthReport:
    """Render ``n_train``/``n_val`` items per kind from Banking77's train/val split into ``out``."""
    started = time.monotonic()
    kinds = list(dict.fromkeys(kinds))
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"kinds must be among {', '.join(KINDS)}; got {', '.join(map(repr, kinds)) or 'none'}")
    if n_train < 0 or n_val < 0:
        raise ValueError("n_train and n_val must be >= 0")
    csv_path = Path(data_dir) / "banking77" / "train.csv" if data_dir is not None else default_paths(None, None)[0]
    out = Path(out)
    assets = _Assets(seed=seed, out=out)
    if "screenshot" in kinds:
        from worker.training.data.synthetic.screens import available_fonts

        assets.fonts = available_fonts()
        if not assets.fonts:
            raise RuntimeError("no TTF font covering basic Latin found (apt-get install fonts-dejavu-core)")
    if "voice" in kinds:
        from worker.training.data.synthetic.voices import available_voices

        assets.voices = list(available_voices())  # raises EspeakMissing without espeak-ng
        if not assets.voices:
            raise RuntimeError("espeak-ng lists no English voices")
    split = load_split(csv_path)
    items = plan_items(split, seed=seed, kinds=kinds, n_train=n_train, n_val=n_val)
    for kind in kinds:
        (out / FOLDERS[kind]).mkdir(parents=True, exist_ok=True)

    records = list(_run(items, assets, max(1, int(workers)), progress))

    manifest = out / "manifest.jsonl"
    text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n" for r in records)
    _write_atomic(manifest, text.encode("utf-8"))
    counts = {kind: {s: sum(1 for r in records if r["kind"] == kind and r["split"] == s) for s in SPLITS}
              for kind in kinds}
    seconds = time.monotonic() - started
    fonts_used = Counter(r["params"].get("font") for r in records if r["kind"] == "screenshot")
    voices_used = Counter(r["params"].get("voice") for r in records if r["kind"] == "voice")
    info = {
        "arguments": {"n_train": n_train, "n_val": n_val, "seed": seed, "kinds": kinds, "workers": workers},
        "seed": seed,
        "rng": "random.Random(f'{seed}-{split}-{kind}-{index}') per item",
        "data": {"path": str(csv_path), "sha256": sha256_file(csv_path), "split_seed": SPLIT_SEED,
                 "val_fraction": VAL_FRACTION, "train_texts": len(split.train_texts),
                 "val_texts": len(split.val_texts), "labels": len(split.labels)},
        "counts": counts,
        "items": len(records),
        "seconds": round(seconds, 2),
        "fonts": [str(f) for f in assets.fonts],
        "fonts_used": dict(sorted(fonts_used.items())),
        "voices": assets.voices,
        "voices_used": dict(sorted(voices_used.items())),
        "espeak": _espeak_version() if "voice" in kinds else None,
        "manifest": manifest.name,
    }
    _write_atomic(out / "synth.json", (json.dumps(info, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return SynthReport(out=out, counts=counts, items=len(records), seconds=round(seconds, 2), manifest=manifest,
                       fonts=len(assets.fonts), voices=len(assets.voices))
