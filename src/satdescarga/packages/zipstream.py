"""Chunk iterators for streamed ZIP entries: one the caller drives itself (`Direct`), and
one that runs its source in a daemon thread a few chunks ahead (`Prefetch`), so inflating
overlaps with the caller's work. Both must be closed when the caller stops early.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator

PREFETCH_DEPTH = 2
"""Decompressed chunks a background thread may keep ready (see `PackageZip.stream`)."""


class CloseableIterator(Iterator[bytes]):
    """An iterator of byte chunks that must be closed when the caller stops early."""

    def close(self) -> None:
        """Stop producing and release what is held."""


class Direct(CloseableIterator):
    def __init__(self, source: Iterator[bytes]) -> None:
        self._source = source

    def __next__(self) -> bytes:
        return next(self._source)

    def close(self) -> None:
        close = getattr(self._source, "close", None)
        if close is not None:
            close()


_END = object()


class Prefetch(CloseableIterator):
    """Runs a chunk iterator in a daemon thread, at most `depth` chunks ahead of the caller.

    The thread holds only the queue and the stop flag, so an iterator dropped without
    `close()` still stops it (its `__del__` sets the flag).
    """

    def __init__(self, source: Iterator[bytes], depth: int) -> None:
        self._queue: queue.Queue[object] = queue.Queue(depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=_produce,
            args=(source, self._queue, self._stop),
            name="satdescarga-inflate",
            daemon=True,
        )
        self._thread.start()

    def __next__(self) -> bytes:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if isinstance(item, bytes):
            return item
        self._done = True
        self._thread.join()
        if item is _END:
            raise StopIteration
        assert isinstance(item, BaseException)
        raise item

    def close(self) -> None:
        self._done = True
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):  # make room for a blocked producer
                self._queue.get(timeout=0.05)
        self._thread.join()

    def __del__(self) -> None:
        self._stop.set()


def _produce(source: Iterator[bytes], out: queue.Queue[object], stop: threading.Event) -> None:
    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.05)
            except queue.Full:
                continue
            return True
        return False

    try:
        for chunk in source:
            if not put(chunk):
                return
    except BaseException as exc:  # handed to the caller, raised there
        put(exc)
        return
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
    put(_END)
