"""Arrow columns as the integer codes and numpy arrays the feature core takes.

Helpers of :mod:`training.frames` (the Arrow edge of the feature definition): they
turn id columns into dense codes, timestamps into nanoseconds and numbers into numpy,
and compute nothing of the features themselves.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Per value length 0..8, the bits of a big-endian 8-byte word that the value fills.
_LENGTH_MASKS = np.array(
    [0, *(~np.uint64(0) << np.uint64(8 * (8 - n)) for n in range(1, 9))], dtype=np.uint64
)


def short_keys(values: pa.Array) -> np.ndarray | None:
    """Order-preserving integer keys of short strings: one uint64 per value, or None.

    A value of at most 8 bytes, read as a big-endian word with zero padding, gives keys
    that compare as the bytes do (``memcmp`` order, Arrow's and Python's for text).
    Distinct values get distinct keys unless one ends in a zero byte ("a" and "a\\0"
    would both be ``0x61 << 56``). None when a value is longer than 8 bytes or ends in a
    zero byte, when there are nulls, or when ``values`` is not string or binary.
    """
    if values.null_count or not (pa.types.is_string(values.type) or pa.types.is_binary(values.type)):
        return None
    n = len(values)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32, count=n + 1, offset=4 * values.offset)
    lengths = np.diff(offsets)
    if n == 0 or lengths.max() > 8:
        return None if n else np.empty(0, dtype=np.uint64)
    begin, end = int(offsets[0]), int(offsets[-1])
    data = values.buffers()[2]
    padded = np.zeros(end - begin + 8, dtype=np.uint8)  # every value's 8-byte window is inside
    if data is not None and end > begin:
        padded[: end - begin] = np.frombuffer(data, dtype=np.uint8, count=end - begin, offset=begin)
    last = offsets[1:][lengths > 0] - begin - 1
    if (padded[last] == 0).any():
        return None
    windows = np.lib.stride_tricks.as_strided(padded, shape=(end - begin + 1, 8), strides=(1, 1))
    keys = windows[offsets[:-1] - begin].view(">u8").ravel().astype(np.uint64)
    keys &= _LENGTH_MASKS[lengths]
    return keys


def sorted_distinct(values: pa.Array, dtype: type) -> tuple[pa.Array, np.ndarray]:
    """The sorted distinct values of ``values`` (no nulls) and each value's rank among them.

    Short strings (:func:`short_keys`) are ranked by one numpy sort of their integer keys;
    anything else by Arrow's sort of the values, equal neighbours merged.
    """
    keys = short_keys(values)
    if keys is not None:
        _, first, rank = np.unique(keys, return_index=True, return_inverse=True)
        return values.take(pa.array(first)), rank.astype(dtype, copy=False)
    order = pc.sort_indices(values)
    ranked = values.take(order)
    new = np.ones(len(ranked), dtype=bool)
    if len(ranked) > 1:
        new[1:] = pc.not_equal(ranked.slice(1), ranked.slice(0, len(ranked) - 1)).to_numpy(
            zero_copy_only=False
        )
    rank = np.empty(len(ranked), dtype=dtype)
    rank[order.to_numpy()] = np.cumsum(new, dtype=dtype) - 1
    return ranked.filter(pa.array(new)), rank
