"""How long to wait before the next attempt: exponential, with jitter, capped.

The n-th failure waits ``min(max_s, base_s * 2 ** (n - 1))``, of which the second half is drawn
at random ("equal jitter"): never less than half the step, so a flapping receiver is not hammered,
and spread out, so the retries of a burst do not arrive together.
"""

from __future__ import annotations

import random

__all__ = ["backoff_s"]


def backoff_s(failures: int, *, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after ``failures`` failed attempts (1 for the first), within ``[step/2, step]``."""
    if failures < 1:
        raise ValueError(f"failures counts from 1, not {failures}")
    step = min(max_s, base_s * 2.0 ** min(failures - 1, 60))
    return step / 2 + (rng or random).uniform(0, step / 2)
