"""StoredIds: which batches of an upsert can be inserted, and when a lookup is needed."""

from __future__ import annotations

import threading

from milvus_rag.client.lite_ids import StoredIds, WriteGenerations


def ids(n: int, start: int = 0) -> list[str]:
    return [f"r{i}" for i in range(start, start + n)]


def test_one_lookup_covers_a_window_of_batches() -> None:
    call = ids(10)
    known = StoredIds(call, window=6)
    todo = known.to_look_up(call[:2], generation=3)
    assert todo == call[:6]  # the batch and what follows, up to the window
    known.found(todo, {"r4"}, generation=3)
    assert not known.any_stored(call[:2])
    known.wrote(call[:2], generation=4)
    assert known.to_look_up(call[2:4], generation=4) == []  # nobody else wrote: still known
    assert not known.any_stored(call[2:4])
    known.wrote(call[2:4], generation=5)
    assert known.to_look_up(call[4:6], generation=5) == []
    assert known.any_stored(call[4:6])  # r4 was stored: this batch is upserted
    known.wrote(call[4:6], generation=6)
    assert known.to_look_up(call[6:8], generation=6) == call[6:10]  # past the window


def test_another_writer_forces_a_new_lookup() -> None:
    call = ids(6)
    known = StoredIds(call, window=100)
    known.found(known.to_look_up(call[:2], generation=0), set(), generation=0)
    known.wrote(call[:2], generation=1)
    # generation 2: someone else wrote (maybe some of our ids) before our next batch
    assert known.to_look_up(call[2:4], generation=2) == call[2:6]
    known.found(call[2:6], {"r3"}, generation=2)
    assert known.any_stored(call[2:4])


def test_a_write_that_is_not_the_next_generation_forgets() -> None:
    call = ids(4)
    known = StoredIds(call)
    known.found(known.to_look_up(call[:2], generation=0), set(), generation=0)
    known.wrote(call[:2], generation=2)  # a drop or delete happened around our write
    assert known.to_look_up(call[2:], generation=2) == call[2:]


def test_our_written_ids_count_as_stored() -> None:
    known = StoredIds(["a", "b"])
    known.found(known.to_look_up(["a"], generation=0), set(), generation=0)
    known.wrote(["a"], generation=1)
    assert known.any_stored(["a"]) and not known.any_stored(["b"])


def test_batch_larger_than_the_window_is_looked_up_whole() -> None:
    call = ids(5)
    known = StoredIds(call, window=2)
    assert known.to_look_up(call, generation=0) == call


def test_generations_count_per_file_across_threads() -> None:
    gens = WriteGenerations()
    threads = [
        threading.Thread(target=lambda: [gens.bump("/a.db") for _ in range(500)]) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gens.get("/a.db") == 2000 and gens.get("/b.db") == 0
