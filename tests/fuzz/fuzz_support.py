"""What the fuzz tests share: hypothesis settings that make CI repeatable, a wall-clock bound
that turns a hang into a failure, and strategies for hostile JSON-like values."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Repeatable: no example database, the same examples on every run and machine.
FUZZ = settings(
    database=None,
    derandomize=True,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


class Hang(AssertionError):
    """The call ran past its time bound."""


@contextmanager
def time_bound(seconds: float, what: str = "the call") -> Iterator[None]:
    """Raise :class:`Hang` if the block runs longer than ``seconds`` (SIGALRM, main thread).

    pytest-timeout arms the same timer: its remaining time is put back afterwards."""
    started = time.monotonic()

    def _expired(signum: int, frame: Any) -> None:
        raise Hang(f"{what} ran past {seconds} s")

    previous_handler = signal.signal(signal.SIGALRM, _expired)
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay > 0:
            left = previous_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), previous_interval)


def nested(depth: int, leaf: Any = 1, *, kind: str = "list") -> Any:
    """``leaf`` inside ``depth`` lists (or one-key objects), built without recursion."""
    value = leaf
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


# Any code point, lone surrogates and NUL included.
any_char = st.characters(blacklist_categories=(), min_codepoint=0, max_codepoint=0x10FFFF)
hostile_text = st.one_of(
    st.text(any_char, max_size=40),
    st.sampled_from(["", " ", "\x00", "\ud800", "\udfff", "a\ud83d", "\u202e", "\ufeff", "\r\n", "\x1b[31m",
                     "{}", "null", "NaN", "[/]", "%s%n", "../../etc/passwd", "a@b.co", "4539 1488 0343 6467"]),
    st.builds(lambda c, n: c * n, st.sampled_from(["a", " ", "\x00", "é", "\ud800"]),
              st.sampled_from([1000, 20_001, 200_000])),
)
hostile_numbers = st.one_of(
    st.integers(),
    st.sampled_from([0, -1, 2**31, 2**63, -(2**63), 10**30, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(st.none(), st.booleans(), hostile_numbers, hostile_text)
json_like = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(hostile_text, inner, max_size=5),
    ),
    max_leaves=30,
)
# Values no JSON parser returns, as a Python caller of the contract might still pass them.
python_oddities = st.one_of(
    st.binary(max_size=20),
    st.sets(st.integers(), max_size=3),
    st.tuples(st.integers(), hostile_text),
    st.just(object()),
    st.just(datetime(2024, 1, 1, tzinfo=timezone.utc)),
    st.complex_numbers(),
    st.dictionaries(st.integers(), st.integers(), max_size=2),
)
anything = st.one_of(json_like, python_oddities)
