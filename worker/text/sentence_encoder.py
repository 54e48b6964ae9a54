"""Sentence vectors from the base all-MiniLM-L6-v2 (not fine-tuned), for similarity search.

The intent model's own vectors are trained to separate its 77 intents, which folds unrelated
queries onto them; the base encoder keeps general meaning, so distances to known tickets say
whether a ticket resembles anything the taxonomy covers, and which help article is closest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from worker.errors import ModelNotBuilt
from worker.runtime import encode_batch, length_batches, load_tokenizer, make_session

BATCH_SIZE = 32


class SentenceEncoder:
    """The built ``text_encoder`` graph; :meth:`encode` returns unit-length 384-d rows."""

    def __init__(self, session, tokenizer, *, provider: str) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self.provider = provider

    @classmethod
    def load(cls, models_dir: Path, *, device: str = "auto", threads: int = 0) -> SentenceEncoder:
        """Open ``models_dir/text_encoder``; raises :class:`ModelNotBuilt` when absent."""
        folder = Path(models_dir) / "text_encoder"
        for path in (folder / "model.onnx", folder / "tokenizer.json"):
            if not path.is_file():
                raise ModelNotBuilt(path)
        opened = make_session(folder / "model.onnx", device=device, threads=threads)
        return cls(opened.session, load_tokenizer(folder / "tokenizer.json"), provider=opened.provider)

    def encode(self, texts: list[str], *, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """One float32 row per text, in input order (batches grouped by length internally)."""
        texts = list(texts)
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for idx in length_batches(self._tokenizer, texts, batch_size):
            ids, mask = encode_batch(self._tokenizer, [texts[i] for i in idx])
            (vectors,) = self._session.run(["sentence_vector"], {"input_ids": ids, "attention_mask": mask})
            out[idx] = vectors
        return out
