"""Micro-batching of text tickets: the worker's main process buffers the messages of one task and
hands them to a pool process together, at most ``flush_every`` at a time or after
``flush_interval`` seconds, whichever comes first.

Built on celery-batches' buffer, with its known gaps closed here:

- **late acks kept**: a message is acknowledged only after its batch returned; a batch whose pool
  process died (killed, out of memory) or ran past the hard time limit is put back on its queue,
  never acknowledged and never lost. At shutdown, buffered messages are unacknowledged, so the
  Redis transport restores them to the queue.
- **one bad message costs only itself**: a message that was delivered before (``delivery_count``
  is above zero) is run in a batch of its own, so a ticket that kills its process takes nobody
  else with it on the next try, and the task's own poison rule ends it.
- **time limits**: each batch runs under the task's soft and hard limits (celery-batches sets none).
- **chains**: the task says what happens next with each request (see :func:`send_next`);
  celery-batches starts no chain.
"""

from __future__ import annotations

import logging
import time
from queue import Empty
from collections.abc import Callable, Collection
from typing import Any

from celery import Signature, signature
from celery_batches import Batches, SimpleRequest
from celery_batches.trace import apply_batches_task

log = logging.getLogger(__name__)
#: kombu's publish retries for the hand-off to the chain's next task: about 90 s in all.
HANDOFF_RETRY = {"max_retries": 20, "interval_start": 0.25, "interval_step": 0.5, "interval_max": 5.0}


def next_task(request: SimpleRequest) -> tuple[Signature, list[Any]] | None:
    """The chain's next task after this request, and the rest of the chain after that."""
    chain = list((request.request_dict or {}).get("chain") or [])
    if not chain:
        return None
    return signature(chain.pop()), chain


def send_next(request: SimpleRequest, value: Any, *, app: Any) -> None:
    """Start the rest of the request's chain with ``value``, as Celery's own tracer would."""
    found = next_task(request)
    if found is None:
        return
    following, rest = found
    following = signature(following, app=app)
    root_id = (request.request_dict or {}).get("root_id") or request.id
    # The message is acknowledged once this returns: ride out a Redis restart rather than drop it.
    following.apply_async((value,), chain=rest or None, parent_id=request.id, root_id=root_id,
                          retry=True, retry_policy=HANDOFF_RETRY)


def announce_done(app: Any, name: str, done: list[tuple[str, SimpleRequest, float]]) -> None:
    """Task events for the next tasks a batch did itself, in place of their messages (task id,
    the request it followed, seconds), so Flower and event consumers still see each one succeed."""
    if not done or not app.conf.worker_send_task_events:
        return
    try:
        with app.events.default_dispatcher(hostname=done[0][1].hostname) as dispatcher:
            for task_id, request, runtime in done:
                dispatcher.send("task-received", uuid=task_id, name=name, args="", kwargs="", retries=0,
                                parent_id=request.id,
                                root_id=(request.request_dict or {}).get("root_id") or request.id)
                dispatcher.send("task-started", uuid=task_id)
                dispatcher.send("task-succeeded", uuid=task_id, result=None, runtime=runtime)
    except Exception:  # noqa: BLE001 - events are for monitors: the tickets are recorded
        log.warning("could not send the events of %d tasks done in a batch", len(done), exc_info=True)


def _simple(request: Any) -> SimpleRequest:
    """celery-batches' picklable request, with the chain that its own copy drops."""
    simple = SimpleRequest.from_request(request)
    embed = request._payload[2] or {}
    simple.request_dict = {**(simple.request_dict or {}), "chain": embed.get("chain")}
    return simple


class MicroBatches(Batches):  # type: ignore[misc]
    """A Batches task whose flush keeps Celery's delivery guarantees (see the module's docstring)."""

    abstract = True
    #: Messages seen before (a count above zero) go alone; set by the task module.
    seen_before: Callable[[list[str]], list[int]] | None = None
    #: Put a batch back on its queue when the task raised (it must return a value other than None).
    requeue_on_error = False

    def __init__(self) -> None:
        super().__init__()
        self._in_flight = 0

    def _do_flush(self) -> None:
        """Flush on the timer only while a pool process is free, else let the batch grow: under a
        steady load a timer alone sends batches of one or two that queue up behind each other."""
        busy = self._in_flight >= (getattr(self._pool, "limit", None) or 1)
        if busy and self._buffer.qsize() < self.flush_every:
            return
        super()._do_flush()

    def drop_buffered(self) -> int:
        """Forget the buffered requests: their connection is gone, so they cannot be acknowledged,
        and their messages go back to the queue (worker.redelivery.Reclaim)."""
        dropped = 0
        while True:
            try:
                self._buffer.get_nowait()
            except Empty:
                return dropped
            dropped += 1

    def _finished(self) -> None:
        self._in_flight = max(0, self._in_flight - 1)
        if self._buffer.qsize():
            super()._do_flush()

    def flush(self, requests: Collection[Any]) -> Any:
        """Send the fresh requests as one batch and each request seen before as a batch of its own."""
        requests = list(requests)
        counts = self._counts(requests)
        fresh = [r for r, n in zip(requests, counts) if n == 0]
        again = [r for r, n in zip(requests, counts) if n > 0]
        if fresh:
            self._run(fresh)
        for request in again:
            self._run([request])

    def _counts(self, requests: list[Any]) -> list[int]:
        if self.seen_before is None:
            return [0] * len(requests)
        try:
            return self.seen_before([r.id for r in requests])
        except Exception:  # noqa: BLE001 - unknown means alone: the safe side
            log.warning("could not read delivery counts; running %d requests one by one", len(requests), exc_info=True)
            return [1] * len(requests)

    def _run(self, requests: list[Any]) -> Any:
        simple = ([_simple(r) for r in requests],)
        conf = self.app.conf
        hard = self.time_limit or conf.task_time_limit
        soft = self.soft_time_limit or conf.task_soft_time_limit

        started = [0.0]
        for request in requests:  # no args in the event: they hold the ticket
            log.info("Task %s[%s] received, in a batch of %d", request.name, request.id, len(requests))
            request.send_event("task-received", name=request.name, root_id=request.root_id, parent_id=request.parent_id)

        def on_accepted(pid: int, time_accepted: float) -> None:  # events, so Flower shows each ticket's task
            started[0] = time.monotonic()
            for request in requests:
                request.send_event("task-started", pid=pid)

        def on_return(value: Any) -> None:
            self._finished()
            if value is None and self.requeue_on_error:  # the batch raised (celery-batches logged it)
                on_error(RuntimeError("the batch task raised; see the error logged above"), finished=True)
                return
            runtime = time.monotonic() - started[0] if started[0] else 0.0
            for request in requests:
                request.acknowledge()
                request.send_event("task-succeeded", result=None, runtime=runtime)

        def on_error(exc: Any, *, finished: bool = False) -> None:  # the process died, or ran out of time
            if not finished:
                self._finished()
            log.error("a batch of %d tickets did not finish (%s); back on the queue", len(requests), exc)
            for request in requests:
                request.reject(requeue=True)
                request.send_event("task-retried", exception=repr(getattr(exc, "exception", exc))[:200])

        self._in_flight += 1
        return self._pool.apply_async(
            apply_batches_task,
            (self, simple, 0, None),
            accept_callback=on_accepted,
            callback=on_return,
            error_callback=on_error,
            timeout=hard,
            soft_timeout=soft,
        )


__all__ = ["MicroBatches", "send_next"]
