"""Media benchmark: OCR milliseconds per image, speech recognition real-time factor, encoder cost,
and the resident memory of a worker process with every model loaded.

    python -m worker.benchmarks.media --out docs/performance-media.md

Inputs are the synthetic validation split (``ticketfusion data synth``) when present, else a few
screenshots and espeak-ng voice notes made on the spot. The machine is shared: read ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from worker.settings import REPO_ROOT, Settings, get_settings

RSS_PROBE = r"""
import json, sys, resource
from pathlib import Path
from worker.orchestrator.triager import Triager
from worker.settings import get_settings
settings = get_settings()
triager = Triager.load(settings, allow_local_files=True)
triager.media.preload()
fusion = triager.fusion
tickets = [{"ticket_id": f"rss-{n}", "customer_id": "bench", "attachments": [{"kind": kind, "uri": uri}]}
           for n, (kind, uri) in enumerate(json.loads(sys.argv[1]))]
results = triager.triage_batch(tickets)
status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
print(json.dumps({
    "vm_hwm_mib": int(status["VmHWM"].split()[0]) / 1024,
    "vm_rss_mib": int(status["VmRSS"].split()[0]) / 1024,
    "torch_loaded": "torch" in sys.modules,
    "providers": triager.media.providers() | {"intent": triager.intent_model.provider,
                                              "fusion": fusion.provider if fusion else None},
    "errors": [e.code for r in results for e in r.errors],
}))
"""


def _inputs(settings: Settings, n: int) -> tuple[list[Path], list[Path]]:
    from worker.training.data.readings import load_manifest

    synth = Path(settings.state_dir) / "synth"
    try:
        items = load_manifest(synth, split="val", limit=n)
    except FileNotFoundError:
        items = []
    screens = [synth / i.file for i in items if i.kind == "screenshot"]
    voices = [synth / i.file for i in items if i.kind == "voice"]
    if screens and voices:
        return screens, voices
    return _made_inputs(Path(settings.state_dir) / "bench-media", n)


def _made_inputs(folder: Path, n: int) -> tuple[list[Path], list[Path]]:
    import random

    from worker.training.data.synthetic.screens import (
        available_fonts,
        render_screenshot,
    )
    from worker.training.data.synthetic.voices import available_voices, render_voice

    folder.mkdir(parents=True, exist_ok=True)
    sentences = ["My card has not arrived yet, it has been two weeks.", "Why was I charged a fee for this transfer?",
                 "I think someone has used my card without permission.", "How do I top up with Apple Pay?"]
    fonts, voices = available_fonts(), available_voices()
    screens, clips = [], []
    for k in range(n):
        rng = random.Random(k)
        image, _ = render_screenshot(sentences[k % len(sentences)], rng, fonts=fonts)
        path = folder / f"screen-{k}.png"
        image.save(path)
        screens.append(path)
        data, ext, _ = render_voice(sentences[k % len(sentences)], rng, voices=voices)
        path = folder / f"voice-{k}.{ext}"
        path.write_bytes(data)
        clips.append(path)
    return screens, clips


def bench(settings: Settings, *, n: int = 20) -> dict[str, Any]:
    from worker.media.audio import decode_audio
    from worker.media.images import decode_image
    from worker.media.reader import MediaReader

    screens, voices = _inputs(settings, n)
    reader = MediaReader(settings)
    reader.preload()
    ocr_ms, image_ms, pixels = [], [], []
    for path in screens:
        image = decode_image(path.read_bytes(), max_pixels=settings.max_image_pixels)
        pixels.append(image.width * image.height)
        started = time.perf_counter()
        reader.model("ocr").read(image)
        ocr_ms.append((time.perf_counter() - started) * 1000)
        encoder = reader.optional("image_encoder")
        if encoder is not None:
            started = time.perf_counter()
            encoder.embed([image])
            image_ms.append((time.perf_counter() - started) * 1000)
    asr_s = speech_s = audio_s = 0.0
    vad_ms, audio_ms = [], []
    for path in voices:
        audio = decode_audio(path.read_bytes(), max_seconds=settings.max_audio_seconds)
        started = time.perf_counter()
        speech = reader.model("vad").trim(audio)
        vad_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        reader.model("asr").transcribe(speech)
        asr_s += time.perf_counter() - started
        speech_s += speech.duration_s
        audio_s += audio.duration_s
        encoder = reader.optional("audio_encoder")
        if encoder is not None:
            started = time.perf_counter()
            encoder.embed([speech.samples])
            audio_ms.append((time.perf_counter() - started) * 1000)
    probe = subprocess.run(
        [sys.executable, "-c", RSS_PROBE,
         json.dumps([["image", str(screens[0])], ["audio", str(voices[0])]])],
        capture_output=True, text=True, timeout=600, check=True,
    )
    return {
        "images": len(screens),
        "median_megapixels": round(statistics.median(pixels) / 1e6, 2),
        "ocr_ms_per_image": {"median": round(statistics.median(ocr_ms), 1),
                             "p90": round(sorted(ocr_ms)[int(0.9 * (len(ocr_ms) - 1))], 1)},
        "image_encoder_ms": round(statistics.median(image_ms), 1) if image_ms else None,
        "voice_notes": len(voices),
        "audio_seconds": round(audio_s, 1),
        "speech_seconds": round(speech_s, 1),
        "asr_real_time_factor": round(asr_s / max(speech_s, 1e-9), 3),
        "asr_rtf_on_whole_audio": round(asr_s / max(audio_s, 1e-9), 3),
        "vad_ms_median": round(statistics.median(vad_ms), 1),
        "audio_encoder_ms": round(statistics.median(audio_ms), 1) if audio_ms else None,
        "beam_size": settings.asr_beam_size,
        "threads": settings.media_threads,
        "worker_process": json.loads(probe.stdout.strip().splitlines()[-1]),
    }


def markdown(report: dict[str, Any]) -> str:
    worker = report["worker_process"]
    return "\n".join([
        "# Media performance", "",
        "Written by `make bench` (`python -m worker.benchmarks.media`). This VM is shared and noisy: "
        "compare ratios from one run.", "",
        "| measure | value |", "| --- | --- |",
        f"| OCR per image (median / p90, {report['images']} images, median {report['median_megapixels']} MP) "
        f"| {report['ocr_ms_per_image']['median']} ms / {report['ocr_ms_per_image']['p90']} ms |",
        f"| image encoder per image | {report['image_encoder_ms']} ms |",
        f"| speech recognition real-time factor (on speech after VAD, beam {report['beam_size']}) "
        f"| {report['asr_real_time_factor']} |",
        f"| same, over the whole recordings ({report['audio_seconds']} s of audio) | {report['asr_rtf_on_whole_audio']} |",
        f"| Silero VAD per voice note | {report['vad_ms_median']} ms |",
        f"| audio encoder per voice note | {report['audio_encoder_ms']} ms |",
        f"| worker process, every model loaded, after a screenshot and a voice note: peak RSS "
        f"| {worker['vm_hwm_mib']:.0f} MiB |",
        f"| torch loaded in that process | {worker['torch_loaded']} |",
        "", f"Providers: {worker['providers']}", "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "performance-media.md")
    parser.add_argument("--n", type=int, default=20, help="screenshots and voice notes to time")
    args = parser.parse_args(argv)
    report = bench(get_settings(), n=args.n)
    args.out.write_text(markdown(report), encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
