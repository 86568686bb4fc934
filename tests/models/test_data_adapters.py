"""StreamAdapter: generators, iterables and PyDatasets one epoch at a time, loaded in the background."""

import threading
import time

import numpy as np
import pytest

from numbacnn.models.data_adapters import StreamAdapter, is_stream, standardize_batch
from numbacnn.utils import PyDataset


class Squares(PyDataset):
    def __init__(self, n=5, delay=0.0, **kwargs):
        super().__init__(**kwargs)
        self.n, self.delay = n, delay
        self.calls = []
        self.epochs_ended = 0
        self.shift = 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.delay:
            time.sleep(self.delay)
        self.calls.append(i)
        x = np.full((2, 3), i + self.shift, np.float32)
        return x, np.array([i, i]), np.ones(2)

    def on_epoch_end(self):
        self.epochs_ended += 1
        self.shift += 100


class Unsized(PyDataset):
    def __init__(self, n):
        super().__init__()
        self.n = n

    @property
    def num_batches(self):
        return None

    def __getitem__(self, i):
        if i >= self.n:
            raise IndexError(i)
        return (np.full((1, 1), i),)


def firsts(batches):
    return [int(x[0, 0]) for x, _, _ in batches]


def test_what_streams():
    assert is_stream(Squares()) and is_stream(iter([])) and is_stream(x for x in [])
    assert not any(is_stream(v) for v in (np.zeros(3), [1, 2], (1,), None))
    assert standardize_batch(np.zeros(2))[1:] == (None, None)
    assert len(standardize_batch((1, 2))) == 3
    with pytest.raises(ValueError, match=r"\(x,\), \(x, y\)"):
        standardize_batch((1, 2, 3, 4))


def test_py_dataset_epochs_in_order_with_hooks():
    ds = Squares(4)
    adapter = StreamAdapter(ds)
    assert adapter.num_batches == 4
    assert firsts(adapter.epoch()) == [0, 1, 2, 3]
    assert ds.epochs_ended == 1
    assert firsts(adapter.epoch()) == [100, 101, 102, 103]   # on_epoch_end's change is seen


def test_py_dataset_steps_carry_on_and_wrap():
    adapter = StreamAdapter(Squares(3), steps=2)
    assert adapter.num_batches == 2
    seen = [firsts(adapter.epoch()) for _ in range(3)]
    assert [v % 100 for epoch in seen for v in epoch] == [0, 1, 2, 0, 1, 2]


def test_py_dataset_shuffle_is_a_permutation():
    ds = Squares(6)
    order = [v % 100 for v in firsts(StreamAdapter(ds, shuffle=True).epoch())]
    assert sorted(order) == list(range(6))


def test_unsized_py_dataset_ends_at_index_error():
    adapter = StreamAdapter(Unsized(3))
    assert adapter.num_batches is None
    assert [int(x[0, 0]) for x, _, _ in adapter.epoch()] == [0, 1, 2]


def test_generator_is_read_once_and_steps_continue():
    def gen():
        for i in range(5):
            yield np.full((1, 1), i), np.zeros(1)

    adapter = StreamAdapter(gen(), steps=2)
    assert [firsts(adapter.epoch()) for _ in range(3)] == [[0, 1], [2, 3], [4]]
    assert firsts(adapter.epoch()) == []     # ran out
    adapter.close()
    whole = StreamAdapter(gen())
    assert whole.num_batches is None
    assert firsts(whole.epoch()) == [0, 1, 2, 3, 4] and firsts(whole.epoch()) == []


def test_iterable_starts_afresh_each_epoch():
    class Batches:
        def __iter__(self):
            for i in range(3):
                yield (np.full((1, 1), i), np.zeros(1))

    adapter = StreamAdapter(Batches())
    assert firsts(adapter.epoch()) == [0, 1, 2] and firsts(adapter.epoch()) == [0, 1, 2]
    stepped = StreamAdapter(Batches(), steps=2)
    assert [firsts(stepped.epoch()) for _ in range(3)] == [[0, 1], [2, 0], [1, 2]]
    stepped.close()


def test_errors_reach_the_consumer():
    def bad():
        yield (np.zeros((1, 1)), np.zeros(1))
        raise RuntimeError("disk gone")

    adapter = StreamAdapter(bad())
    it = adapter.epoch()
    next(it)
    with pytest.raises(RuntimeError, match="disk gone"):
        next(it)

    class Broken(Squares):
        def __getitem__(self, i):
            raise KeyError("bad file")

    with pytest.raises(KeyError, match="bad file"):
        list(StreamAdapter(Broken()).epoch())


@pytest.mark.parametrize("workers, processes", [(1, False), (3, False), (2, True)])
def test_loading_overlaps_the_consumer(workers, processes):
    """While the consumer holds batch i, batch i+1 is being (or has been) loaded: each batch after the
    first is ready sooner than its load takes (its load ran while the consumer worked)."""
    load, compute, n = 0.1, 0.1, 6
    ds = Squares(n, delay=load, workers=workers, use_multiprocessing=processes)
    adapter = StreamAdapter(ds)
    got, waits = [], []
    it = adapter.epoch()
    while True:
        start = time.perf_counter()
        batch = next(it, None)
        waits.append(time.perf_counter() - start)
        if batch is None:
            break
        time.sleep(compute)
        got.append(int(batch[0][0, 0]))
    assert got == list(range(n))
    assert sum(w < 0.5 * load for w in waits[1:n]) >= (n - 1) // 2, waits   # most were waiting already


def test_generator_prefetch_runs_in_another_thread():
    threads = []

    def gen():
        for i in range(3):
            threads.append(threading.current_thread())
            yield (np.full((1, 1), i), np.zeros(1))

    assert firsts(StreamAdapter(gen()).epoch()) == [0, 1, 2]
    assert all(t is not threading.main_thread() for t in threads)


def test_refusals():
    with pytest.raises(TypeError, match="PyDataset, a generator"):
        StreamAdapter(np.zeros(3))
    with pytest.raises(ValueError, match="steps must be a positive"):
        StreamAdapter(iter([]), steps=0)
    with pytest.raises(ValueError, match="no batches"):
        StreamAdapter(Squares(0))

    class NoSuper(PyDataset):
        def __init__(self):
            pass

        def __len__(self):
            return 1

        def __getitem__(self, i):
            return (np.zeros((1, 1)),)

    with pytest.warns(UserWarning, match="super"):
        assert firsts(StreamAdapter(NoSuper()).epoch()) == [0]
