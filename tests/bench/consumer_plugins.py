"""Loaders of known speed for the stall-fraction tests (``tests.bench.consumer_plugins:Class``).

Each produces conformant NLP-1 batches in a background thread, two ahead of the consumer, one
every ``period_s``: a consumer slower than that never waits, a faster one waits the rest.
"""

import itertools
import queue
import threading
import time


from adapters.base import Adapter
from tests.bench.plugins import delivered_batches


def _produce(out: queue.Queue, stop: threading.Event, batches: list, period_s: float) -> None:
    for batch in itertools.cycle(batches):
        if stop.is_set():
            return
        time.sleep(period_s)
        while not stop.is_set():
            try:
                out.put(batch, timeout=0.05)
                break
            except queue.Full:
                continue


class PrefetchingAdapter(Adapter):
    """A batch every 2 ms, prefetched: far faster than a 20 ms training step."""

    name = "prefetching"
    period_s = 0.002

    def version(self):
        return "test"

    def open(self, job):
        out, stop = queue.Queue(maxsize=2), threading.Event()
        threading.Thread(target=_produce, args=(out, stop, delivered_batches(job),
                                                self.period_s), daemon=True).start()
        try:
            while True:
                yield out.get()
        finally:
            stop.set()


class SlowPrefetchingAdapter(PrefetchingAdapter):
    """A batch every 40 ms, prefetched: a 20 ms step waits about half of the time."""

    name = "slow-prefetching"
    period_s = 0.04
