"""models.memory: freed memory goes back to the operating system, values untouched."""

from __future__ import annotations

import gc
import os

import pytest

from models.memory import _malloc_trim, give_back, use_one_heap


def _resident() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(
    not os.path.exists("/proc/self/statm") or _malloc_trim() is None,
    reason="needs Linux's /proc and glibc's malloc_trim",
)
def test_freed_heap_memory_is_no_longer_resident():
    # 200 MB in blocks small enough for malloc's heap, then one more that keeps the heap's
    # top in use, so that nothing but malloc_trim can hand the freed blocks back
    blocks = [bytearray(b"x" * 4000) for _ in range(50_000)]
    pin = bytearray(b"y" * 4000)
    del blocks
    gc.collect()
    before = _resident()
    give_back()
    assert before - _resident() > 100e6
    assert pin == bytearray(b"y" * 4000)


def test_give_back_can_be_called_at_any_time():
    import pyarrow as pa

    kept = pa.array(["a", "b", None])
    give_back()
    give_back()
    assert kept.to_pylist() == ["a", "b", None]


def test_arrow_allocates_from_mallocs_heap_once_asked():
    import pyarrow as pa

    before = pa.default_memory_pool()
    try:
        use_one_heap()
        assert pa.default_memory_pool().backend_name == "system"
        held = pa.system_memory_pool().bytes_allocated()
        column = pa.array(["text"] * 100_000)
        assert pa.system_memory_pool().bytes_allocated() >= held + column.nbytes
    finally:
        pa.set_memory_pool(before)
