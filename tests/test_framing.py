"""The queue log's record format: both header versions read, damage to a header caught and counted."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest

import lazystream_widget as lsw
from lazystream_widget import FileSystemQueue
from lazystream_widget.runtime import framing
from lazystream_widget.runtime.framing import (
    HEADER_SIZE,
    MAGIC,
    MAGIC_V1,
    MAX_ITEM_BYTES,
    count_records,
    declared_record_size,
    frame,
    frame_v1,
    header_check,
    parse_records,
)

ITEMS = [b"", b" token1", "\u00e9\u4e2d\U0001f600".encode(), b"LSQ\x02 inside a payload", b"x" * 5000]


def test_writers_write_the_second_version_and_readers_read_both() -> None:
    assert frame(b"abc")[:4] == MAGIC and frame_v1(b"abc")[:4] == MAGIC_V1
    mixed = b"".join(frame(x) if i % 2 else frame_v1(x) for i, x in enumerate(ITEMS))
    parsed = parse_records(mixed)
    assert parsed.items == ITEMS and parsed.skipped == 0 and parsed.used == len(mixed)
    for x in ITEMS:
        assert declared_record_size(frame(x)) == declared_record_size(frame_v1(x)) == HEADER_SIZE + len(x)


def test_the_appender_writes_the_records_frame_makes(queue_home: Path) -> None:
    """The hot path inlines the header check: what it writes must be byte for byte what frame() makes."""
    texts = ("", " token1", "\u00e9\u4e2d\U0001f600", "a" * 70000, "\ud800 lone surrogate")
    with lsw.session() as sess:
        for x in texts:
            FileSystemQueue(session=sess).enqueue(x)
        raw = _log_path(queue_home, sess).read_bytes()
        assert raw == b"".join(frame(x.encode("utf-8", "surrogatepass")) for x in texts)
        assert FileSystemQueue(session=sess).dequeue() == list(texts)


def test_a_session_log_written_with_the_first_version_is_read(queue_home: Path) -> None:
    with lsw.session() as sess:
        FileSystemQueue(session=sess).enqueue("new")  # opens the files
        with open(_log_path(queue_home, sess), "ab") as f:
            f.write(b"".join(frame_v1(x) for x in (b"old 1", b"old 2")))
        FileSystemQueue(session=sess).enqueue("new again")
        assert FileSystemQueue(session=sess).size() == 4
        assert FileSystemQueue(session=sess).dequeue() == ["new", "old 1", "old 2", "new again"]


@pytest.mark.parametrize("version", [frame, frame_v1])
def test_every_single_bit_flip_in_a_header_is_caught_counted_and_never_delivered(version) -> None:
    """Each of the header's 128 bits flipped in turn: the damaged record is skipped and counted, its
    neighbours are delivered, nothing else is. A corrupt length never passes the header check; in the second
    version the payload crc word is checked with the payload (the header check encodes the length only)."""
    before, victim, after = frame(b"before"), version(b"the damaged one"), version(b"after")
    for bit in range(HEADER_SIZE * 8):
        damaged = bytearray(victim)
        damaged[bit // 8] ^= 1 << (bit % 8)
        buf = before + bytes(damaged) + after
        parsed = parse_records(buf)
        assert parsed.items == [b"before", b"after"], bit
        assert parsed.skipped == len(victim), bit
        if version is frame_v1 or not 8 <= bit // 8 < 12:
            assert declared_record_size(bytes(damaged)) == 0, bit


def test_a_header_cut_short_and_completed_by_the_next_record_is_skipped_and_counted() -> None:
    """A writer killed inside a record's first bytes: the next record's bytes complete its header. The cut record
    is never delivered and its bytes are counted."""
    for size in (0, 1, 7, 200, 5000):
        torn_from = frame(b"t" * size)
        nxt, last = frame(b"next"), frame(b"last")
        for cut in range(1, min(len(torn_from), HEADER_SIZE + 8)):  # inside the header, and a little past it
            buf = torn_from[:cut] + nxt + last
            parsed = parse_records(buf)
            assert parsed.items == [b"next", b"last"], (size, cut)
            assert parsed.skipped == cut, (size, cut)


def test_a_corrupt_length_makes_no_reader_wait_when_intact_records_follow(tmp_path) -> None:
    """Lengths that pass no check (a huge one included) are skipped at once, in the buffer and in a file."""
    for length in (MAX_ITEM_BYTES, MAX_ITEM_BYTES + 1, 2**32 - 1, 10):
        head = struct.pack("<4sIII", MAGIC, length, zlib.crc32(b"x"), header_check(1))
        buf = head + b"x" + frame(b"after")
        assert parse_records(buf).items == [b"after"], length
        path = tmp_path / f"log-{length}"
        path.write_bytes(buf)
        fd = os.open(path, os.O_RDONLY)
        try:
            assert count_records(fd, 0, len(buf)) == 1
        finally:
            os.close(fd)


def test_the_check_is_computed_without_a_big_number_path_and_stays_under_2_32() -> None:
    assert MAX_ITEM_BYTES * framing.CHECK_MUL + framing.CHECK_ADD < 2**32
    assert framing.CHECK_MUL % 2 == 1 and framing.CHECK_ADD != 0
    assert header_check(0) != 0  # an empty payload's crc32 is 0: its header is not all zeros after the magic


def _log_path(queue_home: Path, sess: lsw.Session) -> Path:
    return queue_home / "sessions" / sess.id / "q" / "lazy_answer.log"
