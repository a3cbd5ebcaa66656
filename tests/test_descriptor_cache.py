"""The descriptor cache: bounded, least recently used closed first, never an entry in use."""

from __future__ import annotations

import os

from lazystream_widget.runtime.descriptors import DescriptorCache, DirHandle


def _handle() -> DirHandle:
    return DirHandle(os.open(os.devnull, os.O_RDONLY))


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def test_the_least_recently_used_idle_entry_is_closed_first() -> None:
    cache = DescriptorCache(max_fds=2)
    a = cache.acquire("a", _handle)
    b = cache.acquire("b", _handle)
    a_fd, b_fd = a.fd, b.fd
    cache.release(a)
    cache.release(b)
    a.used_at, b.used_at = 2.0, 1.0  # "b" used longest ago
    c = cache.acquire("c", _handle)
    cache.release(c)
    assert cache.keys() == ["a", "c"] and not _is_open(b_fd) and _is_open(a_fd)
    cache.close_all()
    assert cache.open_descriptors() == 0 and not _is_open(a_fd)


def test_an_entry_in_use_is_never_closed_under_its_user() -> None:
    cache = DescriptorCache(max_fds=1)
    busy = cache.acquire("busy", _handle)
    fd = busy.fd
    for key in range(5):  # far over the bound while "busy" is held
        cache.release(cache.acquire(key, _handle))
    cache.drop(lambda k: k == "busy")
    assert _is_open(fd), "dropped while in use: still open for its user"
    assert cache.use("busy") is None, "but no longer handed out"
    cache.release(busy)
    assert not _is_open(fd), "closed by its last user"
    cache.close_all()


def test_closing_a_queue_handle_waits_for_the_write_in_progress_through_it() -> None:
    """An appender marks a queue handle in use with its ``write_token`` (no ``users`` entry): a close
    (eviction, a dropped session) waits for the write holding it, then closes."""
    import threading

    from lazystream_widget.runtime.descriptors import QueueHandle

    cache = DescriptorCache(max_fds=8)
    h = cache.acquire("q", lambda: QueueHandle(os.open(os.devnull, os.O_WRONLY)))
    cache.release(h)  # idle as far as ``users`` knows
    fd = h.log_fd
    h.write_token.get()  # a write in progress
    closer = threading.Thread(target=cache.drop, args=(lambda k: True,))
    closer.start()
    closer.join(0.3)
    assert closer.is_alive() and h.evicted, "marked evicted at once, but not closed under the write"
    assert _is_open(fd) and os.write(fd, b"x") == 1
    h.write_token.put(None)
    closer.join(5)
    assert not closer.is_alive() and h.closed and not _is_open(fd)


def test_a_lost_write_token_leaves_the_descriptors_open_and_never_blocks_the_cache(monkeypatch, caplog) -> None:
    """A token never given back (an interrupt between taking it and the write): closing gives up after
    WRITE_TOKEN_WAIT_S, leaves the descriptor open (never closed under a write that may still use it) and says so."""
    from lazystream_widget import limits
    from lazystream_widget.runtime.descriptors import QueueHandle

    monkeypatch.setattr(limits, "WRITE_TOKEN_WAIT_S", 0.05)
    cache = DescriptorCache(max_fds=8)
    h = cache.acquire("q", lambda: QueueHandle(os.open(os.devnull, os.O_WRONLY)))
    cache.release(h)
    fd = h.log_fd
    h.write_token.get()  # taken and never given back
    with caplog.at_level("WARNING", logger="lazystream_widget.queue"):
        cache.drop(lambda k: True)
    assert h.closed and _is_open(fd) and cache.open_descriptors() == 0
    assert "write token was not given back" in caplog.text
    os.close(fd)
