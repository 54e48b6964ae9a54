"""What the text benchmarks run on: the sentences, the machine's description and the console.

Sentences are Banking77 texts (``settings.data_dir/banking77/train.csv``) when present, else the
bodies of ``examples/tickets.jsonl`` repeated (see :mod:`worker.benchmarks.bench`).
"""

from __future__ import annotations

import csv
import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from worker.settings import REPO_ROOT, Settings

console = Console(stderr=True)


# ------------------------------------------------------------------------------------------- inputs
def load_sentences(settings: Settings, *, seed: int = 7) -> tuple[list[str], str]:
    """Realistic support sentences and where they came from."""
    path = Path(settings.data_dir) / "banking77" / "train.csv"
    if path.is_file():
        with path.open(newline="", encoding="utf-8") as stream:
            texts = [row["text"] for row in csv.DictReader(stream) if row.get("text")]
        source = f"Banking77 train.csv ({len(texts)} texts)"
    else:
        examples = REPO_ROOT / "examples" / "tickets.jsonl"
        bodies = [json.loads(line).get("body", "") for line in examples.read_text().splitlines() if line.strip()]
        bodies = [b for b in bodies if b]
        texts = (bodies * (2000 // max(1, len(bodies)) + 1))[:2000]
        source = f"examples/tickets.jsonl bodies repeated ({len(bodies)} distinct; Banking77 absent)"
    order = np.random.default_rng(seed).permutation(len(texts))
    return [texts[i] for i in order], source


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory, versions and date."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    import onnxruntime
    import torch
    import transformers

    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": model,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "transformers": transformers.__version__,
        "platform": platform.platform(),
    }

