"""Give the memory of a large request back to the system once it is answered.

glibc keeps freed heap pages (and one arena per thread) for reuse, so a process that once
held an 18 MB body and its transient copies stays that large. After a large body (refused
or answered), the freed pages are returned (``malloc_trim``) and Arrow's pool releases what
it holds. The trim itself is cheap (~0.1 ms), but the next request faults those pages in
again: releasing after every 1 MB batch of 1,000 customers cost ~3.5 ms of its ~34 ms. So
bodies from :data:`ALWAYS_BYTES` are always followed by a release, smaller large ones at
most once per :data:`EVERY_S`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time

import pyarrow as pa

#: Bodies from this size on are followed by a release, at most once per EVERY_S ...
LARGE_BODY_BYTES = 1 << 20
#: ... and always from this size on.
ALWAYS_BYTES = 8 << 20
EVERY_S = 1.0
_M_ARENA_MAX = -8
_M_MMAP_THRESHOLD = -3


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None
    return libc


_LIBC = _glibc()


def limit_arenas(n: int = 2) -> None:
    """At most ``n`` malloc arenas (threadpool threads would each keep their own).

    Arrow allocates from the same (system) allocator, so that its per-thread caches don't
    keep memory either and one trim returns both.
    """
    if _LIBC is not None:
        _LIBC.mallopt(_M_ARENA_MAX, n)
        # a fixed threshold: blocks from 1 MB on (request bodies, their copies) are mapped and
        # unmapped on free, instead of glibc raising the threshold and keeping them in the heap
        _LIBC.mallopt(_M_MMAP_THRESHOLD, LARGE_BODY_BYTES)
        pa.set_memory_pool(pa.system_memory_pool())


def due(body_bytes: int, now: float, last: float) -> bool:
    """Whether a request whose body had ``body_bytes`` is followed by a release (see above)."""
    if body_bytes < LARGE_BODY_BYTES:
        return False
    return body_bytes >= ALWAYS_BYTES or now - last >= EVERY_S


_last_release = float("-inf")


def claim_release(body_bytes: int) -> bool:
    """Whether the request whose body had ``body_bytes`` releases memory (:func:`due`); if so
    it is counted as the last release. Cheap: decided before any hop to a thread."""
    global _last_release
    now = time.monotonic()
    if not due(body_bytes, now, _last_release):
        return False
    _last_release = now
    return True


def release() -> None:
    """Return freed memory to the system (Arrow's pool, then glibc's heap)."""
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
