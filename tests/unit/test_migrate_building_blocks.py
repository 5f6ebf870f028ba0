"""vabatch.tools.migrate building blocks: the canonical row and table hashes of the migration proof,
against the encoding docs/migrate.md specifies (written out again here, independently), and
image headers read without decoding."""

from __future__ import annotations

import hashlib
import struct

import pytest
import xxhash

from testkit.legacy import HEIGHT, WIDTH, frame_image, jpeg_bytes, png_bytes
from vabatch.tools.migrate import (
    LEGACY_BY_NAME,
    TableHasher,
    empty_table_hash,
    encode_row_v2,
    image_size,
    row_digest,
)

FRAME = bytes(range(256)) * 400  # 102,400 bytes: large enough to be hashed unbatched


def spec_v1_value(value) -> bytes:
    if value is None:
        return b"N"
    if isinstance(value, int):
        return b"I" + struct.pack(">q", value)
    if isinstance(value, float):
        return b"R" + struct.pack(">d", value)
    data = value.encode("utf-8") if isinstance(value, str) else value
    return (b"T" if isinstance(value, str) else b"B") + struct.pack(">Q", len(data)) + data


def spec_v2_row(row) -> bytes:
    tags, fixed, payloads = b"", b"", b""
    for value in row:
        if value is None:
            tags += b"N"
        elif isinstance(value, int):
            tags, fixed = tags + b"I", fixed + struct.pack(">q", value)
        elif isinstance(value, float):
            tags, fixed = tags + b"R", fixed + struct.pack(">d", value)
        else:
            data = value.encode("utf-8") if isinstance(value, str) else value
            tags += b"T" if isinstance(value, str) else b"B"
            fixed += struct.pack(">Q", len(data))
            payloads += data
    return tags + fixed + payloads


def header(version: int, table: str) -> bytes:
    return (f"vabatch-migrate-proof/{version}\n{table}\n".encode()
            + ",".join(LEGACY_BY_NAME[table].columns).encode() + b"\n")


def caption_rows(count: int) -> list[tuple]:
    return [(n, n * 25, n * 25 + 20, f"line {n} — ünïcode", None if n % 3 else "settled",
             n % 2, "2024-01-01T00:00:00Z", None) for n in range(1, count + 1)]


def hashed(table: str, rows, version: int = 2) -> str:
    hasher = TableHasher(table, version)
    for row in rows:
        hasher.add(row)
    assert hasher.rows == len(rows)
    return hasher.hexdigest()


def test_row_digest_is_sha256_of_the_documented_encoding():
    row = (7, -1, 0.5, "é", b"\x00\xff", None)
    assert row_digest(row) == hashlib.sha256(b"".join(map(spec_v1_value, row))).digest()
    assert row_digest(()) == hashlib.sha256(b"").digest()
    assert row_digest([None]) == hashlib.sha256(b"N").digest()


def test_row_digest_is_deterministic_and_tells_types_and_boundaries_apart():
    assert row_digest((1, "a", b"b")) == row_digest([1, "a", b"b"])
    rows = [(1,), (1.0,), ("1",), (b"1",), (None,), (None, None), (2,),
            ("ab", "c"), ("a", "bc"), (b"ab", b"c"), ("abc",), ("ab", b"c")]
    assert len({row_digest(row) for row in rows}) == len(rows)


@pytest.mark.parametrize("position", [0, 1000, len(FRAME) - 1])
def test_one_changed_byte_of_a_blob_changes_the_row_and_table_hash(position):
    changed = bytearray(FRAME)
    changed[position] ^= 0x01
    row = (0, 0.0, FRAME, 1, 1, None)
    other = (0, 0.0, bytes(changed), 1, 1, None)
    assert row_digest(row) != row_digest(other)
    for version in (1, 2):
        assert hashed("full_frames", [row], version) != hashed("full_frames", [other], version)


def test_one_changed_character_of_a_text_changes_the_table_hash():
    rows = caption_rows(50)
    edited = list(rows)
    edited[25] = (*rows[25][:3], rows[25][3].replace("line", "lime"), *rows[25][4:])
    assert hashed("captions", rows) != hashed("captions", edited)
    assert hashed("captions", rows) == hashed("captions", list(rows))  # deterministic
    assert hashed("captions", rows) != hashed("captions", rows[::-1])  # order is part of it


def test_v2_table_hash_matches_the_documented_stream_across_batches_and_large_blobs():
    # 3000 rows of captions (more than one batch of pieces) and frames with 100 KB blobs
    # between small rows: batching and unbatched large payloads hash the same bytes.
    rows = caption_rows(3000)
    expected = xxhash.xxh3_128(header(2, "captions") + b"".join(map(spec_v2_row, rows)))
    assert hashed("captions", rows) == "xxh3_128:" + expected.hexdigest()
    frames = [(n, n / 25, FRAME if n % 2 else b"small", 640, 360, None) for n in range(9)]
    expected = xxhash.xxh3_128(header(2, "full_frames") + b"".join(map(spec_v2_row, frames)))
    assert hashed("full_frames", frames) == "xxh3_128:" + expected.hexdigest()


def test_v1_table_hash_is_sha256_of_header_and_row_digests():
    rows = caption_rows(10)
    expected = hashlib.sha256(header(1, "captions") + b"".join(map(row_digest, rows)))
    assert hashed("captions", rows, 1) == expected.hexdigest()
    assert len(hashed("captions", rows, 1)) == 64


def test_empty_table_hashes_name_their_table_and_version():
    assert empty_table_hash("captions") == hashed("captions", [])
    assert empty_table_hash("captions") == "xxh3_128:" + xxhash.xxh3_128(
        header(2, "captions")).hexdigest()
    assert empty_table_hash("captions", 1) == hashlib.sha256(header(1, "captions")).hexdigest()
    assert len({empty_table_hash(table) for table in LEGACY_BY_NAME}) == len(LEGACY_BY_NAME)


def test_image_size_reads_headers_without_decoding():
    image = frame_image(4)
    assert image_size(jpeg_bytes(image)) == (WIDTH, HEIGHT)
    assert image_size(jpeg_bytes(image, pad_to=50_000)) == (WIDTH, HEIGHT)
    assert image_size(png_bytes(image[:10, :20])) == (20, 10)
    assert image_size(b"nothing") is None


def test_v2_row_encoding_tells_types_apart():
    encodings = {b"".join(encode_row_v2(row)) for row in (
        [1], [1.0], ["1"], [b"1"], [None], [None, None], ["ab", "c"], ["a", "bc"], [-1],
        ["é"], [b"\xc3\xa9"])}
    assert len(encodings) == 11
