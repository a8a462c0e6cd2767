"""Arrow columns as the integer codes and numpy arrays the feature core takes.

Helpers of :mod:`training.frames` (the Arrow edge of the feature definition): they
turn id columns into dense codes, timestamps into nanoseconds and numbers into numpy,
and compute nothing of the features themselves.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_NS_PER_UNIT = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
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
    if values.null_count or not _is_text(values.type):
        return None
    n = len(values)
    width = np.dtype(
        np.int64
        if pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type)
        else np.int32
    )
    offsets = np.frombuffer(
        values.buffers()[1], dtype=width, count=n + 1, offset=width.itemsize * values.offset
    )
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


def _is_text(kind: pa.DataType) -> bool:
    """String or binary values with offsets (not views, not dictionaries)."""
    return any(
        f(kind)
        for f in (pa.types.is_string, pa.types.is_binary, pa.types.is_large_string, pa.types.is_large_binary)
    )


def sorted_distinct(values: pa.Array, dtype: type) -> tuple[pa.Array, np.ndarray]:
    """The sorted distinct values of ``values`` (no nulls) and each value's rank among them.

    Short strings (:func:`short_keys`) are ranked by a numpy sort of their distinct integer
    keys; anything else by Arrow's sort of the values, equal neighbours merged.
    """
    keys = short_keys(values)
    if keys is not None:
        # hashed first (the row groups' dictionaries repeat ids), then only distinct keys sorted
        encoded = pc.dictionary_encode(pa.array(keys))
        distinct, inverse = encoded.dictionary.to_numpy(), encoded.indices.to_numpy()
        order = np.argsort(distinct)
        rank: np.ndarray = np.empty(len(distinct), dtype=dtype)
        rank[order] = np.arange(len(distinct), dtype=dtype)
        where = np.empty(len(distinct), dtype=np.int64)
        where[inverse] = np.arange(len(keys))  # any position of a key: equal keys, equal values
        return values.take(pa.array(where[order])), rank[inverse]
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


def dictionary_codes(column: pa.ChunkedArray, dtype: type, sort: bool = False) -> tuple[np.ndarray, pa.Array]:
    """Codes (null: -1) of a column in one dictionary of its distinct values, and that dictionary.

    With ``sort``, the dictionary is sorted (the codes are ranks): only the distinct values
    are sorted, and the ranks ride on the code mapping the chunks need anyway.
    """
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)  # one dictionary shared by every chunk
    # The Parquet reader shares one dictionary among a row group's chunks: unify the
    # distinct dictionaries only (ChunkedArray.unify_dictionaries rehashes every chunk's).
    if column.num_chunks == 0:
        return np.empty(0, dtype=dtype), pa.array([], type=column.type.value_type)
    starts: dict[tuple[int, ...], int] = {}
    dictionaries: list[pa.Array] = []
    chunk_starts: list[int] = []
    for chunk in column.chunks:
        d = chunk.dictionary
        key = tuple([*(0 if b is None else b.address for b in d.buffers()), d.offset, len(d)])
        if key not in starts:
            starts[key] = sum(len(x) for x in dictionaries)
            dictionaries.append(d)
        chunk_starts.append(starts[key])
    unified: np.ndarray | None = None  # position in the concatenated dictionaries -> final code
    if sort and sum(len(d) for d in dictionaries) > 1:
        # One sort of the concatenated dictionaries both orders and unifies them (equal
        # neighbours merge): no hashing of the distinct values, no sort of the lines.
        both = pa.concat_arrays(dictionaries) if len(dictionaries) > 1 else dictionaries[0]
        values, unified = sorted_distinct(both, dtype)
    elif len(dictionaries) == 1:
        values = dictionaries[0]
    else:
        encoded = pc.dictionary_encode(pa.concat_arrays(dictionaries))
        values, unified = encoded.dictionary, encoded.indices.to_numpy().astype(dtype)
    codes: np.ndarray = np.empty(len(column), dtype=dtype)
    to_final: dict[int, np.ndarray] = {}
    at = 0
    for chunk, start in zip(column.chunks, chunk_starts, strict=True):
        indices = chunk.indices
        local = column_numpy(pc.fill_null(indices, -1) if indices.null_count else indices, dtype)
        if unified is not None:  # -1 (null) picks the appended -1
            if start not in to_final:
                to_final[start] = np.append(unified[start : start + len(chunk.dictionary)], -1)
            local = to_final[start][local]
        codes[at : at + len(chunk)] = local
        at += len(chunk)
    return codes, values


def order_codes(column: pa.ChunkedArray, dtype: type) -> np.ndarray:
    """Dense codes of a null-free id column: equal values get equal codes, from 0 up.

    When the values never decrease from one line to the next (a file sorted by this id,
    as many exports are), the codes number the runs of equal values: two comparisons of
    neighbouring lines instead of hashing every line. Otherwise Arrow's hash
    (:func:`dictionary_codes`), codes in order of first appearance either way.
    """
    n = len(column)
    if n > 1 and _never_decreases(column):
        new = np.empty(n, dtype=bool)
        new[0] = True
        new[1:] = pc.not_equal(column.slice(1), column.slice(0, n - 1)).to_numpy(zero_copy_only=False)
        return np.cumsum(new, dtype=dtype) - 1
    return dictionary_codes(column, dtype)[0]


def _never_decreases(column: pa.ChunkedArray) -> bool:
    """Whether each value is at least the one before (text compares by its bytes)."""
    if not (_is_text(column.type) or pa.types.is_integer(column.type)):
        return False  # NaN or dictionaries would not compare as equality does
    for part in (column.slice(0, 1 << 16), column):  # unsorted lines mostly fail the cheap check
        n = len(part)
        if n > 1 and pc.any(pc.less(part.slice(1), part.slice(0, n - 1))).as_py():
            return False
    return True


def nanoseconds(column: pa.ChunkedArray) -> np.ndarray:
    """Timestamps (any unit, any zone, no nulls) as int64 nanoseconds since 1970-01-01 UTC.

    Each chunk is scaled straight into the one output array (Arrow's cast and a combine of
    the chunks would copy the lines twice more).

    Raises
    ------
    ValueError
        When the column is not a timestamp, or a time is out of the nanosecond range.
    """
    if not pa.types.is_timestamp(column.type):
        raise ValueError(f"the timestamp column has type {column.type}, not a timestamp")
    factor = _NS_PER_UNIT[column.type.unit]
    lowest, highest = -(2**63 // factor), (2**63 - 1) // factor  # scaled, they fit an int64
    out = np.empty(len(column), dtype=np.int64)
    at = 0
    for chunk in column.chunks:
        values = chunk.cast(pa.int64()).to_numpy()  # the stored UTC integers, zero-copy
        if len(values) and (values.min() < lowest or values.max() > highest):
            raise ValueError("a timestamp is out of the range of nanoseconds since 1970 (years 1677-2262)")
        np.multiply(values, factor, out=out[at : at + len(values)])
        at += len(values)
    return out


def column_numpy(column: pa.Array | pa.ChunkedArray, dtype: type) -> np.ndarray:
    """A null-free Arrow column as a numpy array (zero-copy for one chunk of ``dtype``)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column.to_numpy(zero_copy_only=False).astype(dtype, copy=False)
