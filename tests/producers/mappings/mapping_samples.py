"""Shared helpers of the mapping tests: the sample payloads and a small PNG."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image

PAYLOADS = Path(__file__).parent / "payloads"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


PNG = _png()


def load(name: str) -> Any:
    """A sample payload from tests/producers/mappings/payloads."""
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))
