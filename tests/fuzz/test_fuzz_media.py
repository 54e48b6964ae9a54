"""The image and audio decoders under hostile bytes: truncated, bit-flipped, mislabelled,
zero-length, decompression bombs and lying headers end as a named MediaError or a valid decode,
never another exception, never a hang, in bounded memory (each decode runs in a child process
under a time limit and an address-space cap)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from fuzz_media import (
    cases,
    MAX_PIXELS,
    MAX_SECONDS,
    MEMORY_BYTES,
    BoundedDecoder,
    image_bytes,
    mutate,
    variants,
)
from fuzz_support import FUZZ
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from worker.contract import Attachment, Limits, Ticket
from worker.errors import MediaError
from worker.media.attachments import load_attachments

PEAK_BYTES = 1536 * 1024**2  # far under the cap: a decode that got near it was not bounded by our checks


@pytest.fixture(scope="module")
def decoder():
    child = BoundedDecoder()
    yield child
    child.close()


def assert_named(outcome: tuple[str, str, int], what: str) -> str:
    state, detail, peak = outcome
    assert state in ("ok", "media_error"), f"{what}: {state}: {detail}"
    assert peak < PEAK_BYTES, f"{what}: the decoder peaked at {peak >> 20} MiB"
    return detail


# -- mutations of valid files ----------------------------------------------------------------

steps = st.lists(st.tuples(st.sampled_from(["truncate", "flip", "byte", "int32", "delete", "repeat"]),
                           st.integers(0, 2**20), st.integers(0, 2**16)), min_size=1, max_size=4)


@settings(FUZZ, max_examples=600)
@given(sample=st.sampled_from([v for v in variants() if v[0] == "image"]), edits=steps)
def test_damaged_images_are_named_errors(decoder, sample, edits) -> None:
    """Images of six formats in many encodings, truncated, bit-flipped, with lying header fields, cut or repeated."""
    kind, name, data = sample
    assert_named(decoder.decode(kind, mutate(data, edits)), f"{name} {edits}")


@settings(FUZZ, max_examples=600)
@given(sample=st.sampled_from([v for v in variants() if v[0] == "audio"]), edits=steps)
def test_damaged_audio_is_named_errors(decoder, sample, edits) -> None:
    """WAV (PCM, float, u-law, ADPCM), FLAC, Vorbis, Opus, MP3, M4A: truncated, bit-flipped, lying headers, cut."""
    kind, name, data = sample
    assert_named(decoder.decode(kind, mutate(data, edits)), f"{name} {edits}")


@settings(FUZZ, max_examples=100)
@given(data=st.binary(max_size=4096), prefix=st.sampled_from(
    [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF\x00\x00\x00\x00WEBP", b"GIF89a", b"BM", b"II*\x00",
     b"RIFF\xff\xff\xff\xffWAVE", b"fLaC", b"OggS", b"ID3\x04\x00", b"\xff\xfb\x90\x00", b"\x00\x00\x00\x18ftypM4A "]),
    kind=st.sampled_from(["image", "audio"]))
def test_random_bytes_behind_any_magic_number_are_named_errors(decoder, data: bytes, prefix: bytes, kind: str) -> None:
    """Random bytes, alone or behind each format's magic number, declared image or audio."""
    assert_named(decoder.decode(kind, prefix + data), f"{kind} {prefix!r}")


# -- a catalogue of named cases ----------------------------------------------------------------

@pytest.mark.parametrize("name", list(cases()))
def test_catalogue_of_hostile_files_gives_the_named_error(decoder, name: str) -> None:
    """Bombs, mislabelled files, zero-length files and lying headers: each refused with its own code."""
    kind, data, codes = cases()[name]
    state, detail, _ = decoder.decode(kind, data)
    assert state == "media_error", f"{name}: {state}: {detail}"
    code = detail.split("(", 1)[1].split(")", 1)[0]  # "CorruptMedia(corrupt_media): why"
    assert code in codes, f"{name}: {detail}"


@pytest.mark.parametrize("index", range(len(variants())), ids=[name for _, name, _ in variants()])
def test_valid_files_still_decode(decoder, index: int) -> None:
    """The hardening keeps valid input valid: each encoding's clean sample decodes."""
    kind, name, data = variants()[index]
    state, detail, _ = decoder.decode(kind, data)
    assert state == "ok", f"{name}: {detail}"


def test_memory_cap_is_in_force(decoder) -> None:
    """The decoding child cannot allocate past its address-space cap, so 'bounded memory' above is a real bound."""
    state, detail, _ = decoder.decode("allocate", b"x" * (MEMORY_BYTES // 1024**3 + 1))
    assert state == "stray" and detail.startswith("MemoryError"), detail
    assert decoder.decode("image", image_bytes("PNG"))[0] == "ok"  # and it keeps serving


# -- loading attachments ---------------------------------------------------------------------

HOSTILE_URIS = ["~nosuchuser/x.png", "file://[::1/x.png", "file:///a%00b.png", "a\x00b.png", "x" * 5_000,
                "a/" * 2_000 + "x.png", "blob://" + "0" * 64, "blob://../../etc/passwd", "blob://", "blob://" + "g" * 64,
                "/dev/zero", "/proc/self/mem", "/etc", "~", "file:", "http://169.254.169.254/latest", "\ud800.png"]


@pytest.mark.parametrize("allow_local_files", [False, True])
def test_loading_hostile_uris_gives_one_named_error_each(tmp_path: Path, allow_local_files: bool) -> None:
    """Paths that make pathlib raise (no such user, bad IPv6 host, NUL, too long) and blob keys that are not keys."""
    attachments = [Attachment.model_construct(kind="image", uri=uri) for uri in HOSTILE_URIS]
    ticket = Ticket.model_construct(ticket_id="T-1", customer_id="C-1", body="x", attachments=attachments)
    loaded, errors = load_attachments(ticket, blob_dir=tmp_path, limits=Limits(), allow_local_files=allow_local_files)
    assert len(loaded) + len(errors) == len(HOSTILE_URIS)
    assert all(entry.code and entry.where.startswith("attachments.") for entry in errors)
    assert all(item.data == b"" or len(item.data) <= Limits().max_attachment_bytes for item in loaded)


def test_the_media_reader_surfaces_each_broken_file_as_a_media_error() -> None:
    """``MediaReader.read`` (what the worker calls) raises MediaError for broken files before loading any model."""
    from worker.media.reader import MediaReader
    from worker.settings import Settings

    settings = Settings(redis_url="redis://127.0.0.1:6379/11", max_image_pixels=MAX_PIXELS,
                        max_audio_seconds=MAX_SECONDS)
    reader = MediaReader(settings, with_embeddings=False)
    for name, (kind, data, _) in cases().items():
        with pytest.raises(MediaError):
            reader.read(kind, data)
    assert reader.providers() == {}, "a broken file loaded a model"


def _interlaced_png(width: int, height: int) -> bytes:
    """An Adam7-interlaced RGB PNG (Pillow writes none), pass by pass."""
    import struct
    import zlib

    from worker.media.images import _ADAM7

    pixels = np.random.default_rng(width).integers(0, 255, (height, width, 3), dtype=np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for x0, y0, dx, dy in _ADAM7 for row in pixels[y0::dy, x0::dx]
                   if row.size)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize(
    "make",
    [lambda: _save(Image.new("RGB", (2000, 2000), "white")), lambda: _save(Image.new("1", (4000, 1000))),
     lambda: _save(Image.new("L", (1, 4_000_000))), lambda: _save(Image.new("P", (3000, 1333))),
     lambda: _save(Image.fromarray(np.zeros((1000, 1000), np.uint16))), lambda: _save(Image.new("LA", (17, 3))),
     lambda: _save(Image.fromarray(np.random.default_rng(0).integers(0, 255, (1080, 1920, 3), dtype=np.uint8))),
     lambda: _interlaced_png(37, 23), lambda: _interlaced_png(1, 1), lambda: _interlaced_png(3, 17)],
    ids=["2000x2000-solid", "1-bit", "1x4M", "palette", "16-bit", "LA", "1080p-noise", "adam7", "adam7-1px",
         "adam7-narrow"],
)
def test_valid_pngs_of_every_layout_pass_the_truncation_check(make) -> None:
    """Valid PNGs of every layout (bit depths, colour types, long runs, Adam7) pass the truncated-data check."""
    from worker.media.images import decode_image

    data = make()
    with Image.open(io.BytesIO(data)) as original:
        size = original.size
    assert decode_image(data, max_pixels=MAX_PIXELS).size == size


def _save(image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
