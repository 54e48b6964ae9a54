"""Vague ticket bodies and subjects that point at an attachment without saying what is wrong.

A synthetic ticket pairs a screenshot or voice note (which carries the actual request) with one of
these texts, so the fusion stage learns to read the attachment. Train and validation use disjoint
phrasings: the validation lists hold out wordings the training lists never show.
"""

from __future__ import annotations

import random

KINDS = ("screenshot", "voice")
SPLITS = ("train", "val")

SCREENSHOT_TRAIN = (
    "See attached.",
    "See attached",
    "please look at the screenshot",
    "Screenshot attached, thanks",
    "Problem in the picture",
    "Help!",
    "Can you look at this?",
    "see screenshot",
    "Please see the attached image.",
    "This is what I'm seeing on my screen.",
    "What does this mean?",
    "Attached a screenshot of the issue.",
    "Look at this please",
    "pic attached",
    "Please check the image and get back to me.",
    "Details in the screenshot.",
    "I took a screenshot, see below.",
    "Can someone help with this?",
    "Sending a screenshot of my problem.",
    "Hello, please see the attachment. Thank you.",
    "As shown in the attached picture.",
    "Screenshot below.",
    "Need help with this asap",
    "Here is a screenshot.",
)

SCREENSHOT_VAL = (
    "Please find attached.",
    "Have a look at the attached screenshot.",
    "The image explains it.",
    "Attaching a picture of what happened.",
    "Any idea what this is?",
    "Pls help, see pic",
    "It's all in the screenshot",
    "Check the attachment",
    "Photo attached.",
    "See the image for details, thanks.",
    "I've attached a screen grab.",
    "Please advise (screenshot attached).",
)

VOICE_TRAIN = (
    "I left you a voice message",
    "see the recording",
    "Voice note attached — please help",
    "Help!",
    "Can you look at this?",
    "Please listen to the attached audio.",
    "Recorded my question, see attached.",
    "voice memo attached",
    "I explained it in the recording.",
    "Sent you a voice note, please get back to me.",
    "Audio attached, thanks",
    "Please listen and help.",
    "My question is in the voice message.",
    "Here is a recording of my issue.",
    "Hello, I've attached a voice message. Thanks.",
    "Listen to the attachment please",
    "It's easier to explain by voice, see attached.",
    "Voicemail attached.",
    "please check the audio file",
    "Recording attached.",
)

VOICE_VAL = (
    "Please find my voice message attached.",
    "I recorded what the problem is.",
    "Have a listen to the attached.",
    "Left a voice memo, please respond.",
    "The audio explains everything.",
    "Sound file attached",
    "Could you listen to this and help?",
    "See the voice note.",
    "My message is in the audio clip.",
    "Attaching an audio recording, thanks.",
)

SUBJECTS_TRAIN = (
    "Help",
    "Question",
    "Help needed",
    "Re: my account",
    "Problem",
    "Issue",
    "Urgent",
    "Support request",
    "Need assistance",
    "Hi",
)

SUBJECTS_VAL = (
    "Query",
    "Please help",
    "Account question",
    "Assistance required",
    "Fwd: issue",
)

BODIES = {
    ("screenshot", "train"): SCREENSHOT_TRAIN,
    ("screenshot", "val"): SCREENSHOT_VAL,
    ("voice", "train"): VOICE_TRAIN,
    ("voice", "val"): VOICE_VAL,
}
SUBJECTS = {"train": SUBJECTS_TRAIN, "val": SUBJECTS_VAL}
EMPTY_SUBJECT_P = 0.35


def vague_texts(kind: str, split: str) -> tuple[str, ...]:
    """The vague bodies for a kind (``screenshot``/``voice``) and split (``train``/``val``)."""
    try:
        return BODIES[(kind, split)]
    except KeyError:
        raise ValueError(f"no vague texts for kind={kind!r}, split={split!r}") from None


def vague_text(kind: str, split: str, rng: random.Random) -> str:
    """One vague body for the kind and split, drawn with ``rng``."""
    return rng.choice(vague_texts(kind, split))


def vague_subject(split: str, rng: random.Random) -> str:
    """A generic subject for the split, or ``""`` (no subject) about a third of the time."""
    if split not in SUBJECTS:
        raise ValueError(f"no subjects for split={split!r}")
    if rng.random() < EMPTY_SUBJECT_P:
        return ""
    return rng.choice(SUBJECTS[split])
