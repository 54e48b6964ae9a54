"""OCR of screenshots with the models bundled in rapidocr's wheel.

rapidocr downloads any model its config names but does not find, so every path is given here and
points into the installed package: a worker never reaches the network, and a missing file is a
named error instead of a hang on a firewall. The angle classifier stays off: screenshots are
upright, and it turned some upright lines upside down (0.02 % character errors without it).

OCR reads every pixel with text, including window chrome (headers, clocks, buttons, greetings);
:func:`worker.media.screenshots.message.message_text` keeps what the customer wrote, because chrome words
cost intent accuracy.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from worker.errors import MediaModelMissing
from worker.media.screenshots.lines import OcrLine, reading_order
from worker.media.screenshots.message import message_text

__all__ = ["BUNDLED_MODELS", "OcrEngine", "OcrLine", "OcrResult", "bundled_model_paths", "bundled_models_dir",
           "rapidocr_params", "reading_order"]

log = logging.getLogger(__name__)

BUNDLED_MODELS = {"det": "PP-OCRv6_det_small.onnx", "rec": "PP-OCRv6_rec_small.onnx"}

# Measured on 20 synthetic screenshots (800x600 chat, e-mail, dialog; two 1600x1000 desktops) on
# 2 busy cores: rapidocr's default upscales the short side to 736 px before detection (1.5x the
# pixels of an 800x600 image); "max 960" detects at the image's own scale up to 960 px and only
# shrinks larger ones (640 lost 10-px text: 5.8 % character errors). Batches of one line avoid
# padding every line to the widest in its batch. Wall time -25 to -30 %, CPU 1924 -> 1346 ms per
# image (845 ms with threads=1), character errors 2 -> 1 in 4459.
MAX_SIDE = 2000  # rapidocr's own cap, applied here before the numpy copy of a huge image
DET_LIMIT_TYPE = "max"
DET_LIMIT_SIDE = 960
REC_BATCH = 1


@dataclass(frozen=True)
class OcrResult:
    """Lines in reading order, all their text, and the customer's message without the chrome."""

    lines: list[OcrLine]
    text: str
    message: str
    ms: float


def bundled_models_dir() -> Path:
    """rapidocr's ``models`` folder, found without importing rapidocr (it pulls in OpenCV)."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or spec.origin is None:
        raise MediaModelMissing("OCR needs the rapidocr package: pip install rapidocr==3.10.0")
    return Path(spec.origin).parent / "models"


def bundled_model_paths() -> dict[str, Path]:
    """The detector and recogniser files shipped in the wheel; MediaModelMissing if one is gone."""
    folder = bundled_models_dir()
    paths = {task: folder / name for task, name in BUNDLED_MODELS.items()}
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise MediaModelMissing(
            f"OCR model file(s) missing from the rapidocr wheel: {', '.join(missing)}; "
            "reinstall it (pip install --force-reinstall rapidocr==3.10.0): the worker never "
            "downloads models"
        )
    return paths


def rapidocr_params(*, threads: int = 0) -> dict[str, Any]:
    """rapidocr settings that use only the bundled files and the measured fast settings.

    The recogniser's character list is embedded in its ONNX metadata, so no dictionary file is
    needed (rapidocr would download one only for a model without it).
    """
    paths = bundled_model_paths()
    return {
        "Global.use_cls": False,
        "Global.log_level": "error",
        "Global.model_root_dir": str(bundled_models_dir()),
        "Det.model_path": str(paths["det"]),
        "Det.limit_type": DET_LIMIT_TYPE,
        "Det.limit_side_len": DET_LIMIT_SIDE,
        "Rec.model_path": str(paths["rec"]),
        "Rec.rec_batch_num": REC_BATCH,
        "EngineConfig.onnxruntime.intra_op_num_threads": threads if threads > 0 else -1,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    }


class OcrEngine:
    """rapidocr's detector and recogniser, loaded once per worker process."""

    def __init__(self, ocr: Any, *, provider: str, max_side: int = MAX_SIDE) -> None:
        self._ocr = ocr
        self.provider = provider
        self.max_side = max_side

    @classmethod
    def load(cls, *, threads: int = 0, max_side: int = MAX_SIDE) -> OcrEngine:
        """Open both ONNX sessions now, so that a broken install fails at start, not mid-ticket.

        ``threads``: intra-op threads per session (0: ONNX Runtime's default, all cores).
        """
        params = rapidocr_params(threads=threads)
        from rapidocr import RapidOCR

        ocr = RapidOCR(params=params)
        # rapidocr opens sessions lazily on first use; open them here (3.10's loaders).
        det = ocr._load_det_model()
        ocr._load_rec_model()
        provider = det.session.session.get_providers()[0]
        log.info("OCR loaded from %s on %s", bundled_models_dir(), provider)
        return cls(ocr, provider=provider, max_side=max_side)

    def read(self, image: Image.Image) -> OcrResult:
        """Every text line of ``image`` in reading order, and the customer's message among them."""
        start = time.perf_counter()
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        scale = 1.0
        if max(rgb.size) > self.max_side:
            scale = self.max_side / max(rgb.size)
            size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
            rgb = rgb.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        bgr = np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])
        out = self._ocr(bgr)
        lines = []
        if out.txts is not None and out.boxes is not None:
            for text, score, quad in zip(out.txts, out.scores, out.boxes):
                points = np.asarray(quad, dtype=np.float64) / scale
                box = (
                    float(points[:, 0].min()),
                    float(points[:, 1].min()),
                    float(points[:, 0].max()),
                    float(points[:, 1].max()),
                )
                lines.append(OcrLine(text=str(text).strip(), score=float(score), box=box))
        lines = reading_order(lines)
        return OcrResult(
            lines=lines,
            text="\n".join(line.text for line in lines),
            message=message_text(lines, image_size=image.size),
            ms=(time.perf_counter() - start) * 1000.0,
        )
