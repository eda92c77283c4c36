"""index/dense.py: a filtered search returns the best allowed rows, whether FAISS ranks them
(a wide filter) or their cosines are computed directly (a few rows: one release's passages)."""
import numpy as np
import pytest

from index.dense import DIRECT_LIMIT, DenseIndex


def unit(rng, count, dim=32):
    vectors = rng.normal(size=(count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
@pytest.mark.parametrize("allowed_count", [7, DIRECT_LIMIT + 200])
def test_a_filtered_search_returns_the_best_allowed_rows(kind, allowed_count):
    rng = np.random.default_rng(3)
    index = DenseIndex(32, kind)
    rows = list(range(10, 10 + 3000))
    vectors = unit(rng, len(rows))
    index.add(rows, vectors)
    index.remove(rows[:5])  # gone: never returned, though HNSW keeps their entries
    allowed = set(rng.choice(rows, allowed_count, replace=False).tolist()) | set(rows[:5])
    query = unit(rng, 1)[0]
    found, scores = index.search(query, 12, allowed)
    live = sorted(r for r in allowed if r not in rows[:5])
    cosines = {r: float(vectors[r - 10] @ query) for r in live}
    expected = sorted(live, key=lambda r: -cosines[r])[:12]
    if kind == "flat" or allowed_count <= DIRECT_LIMIT:  # exact
        assert found == expected
    else:  # approximate: most of the best, nothing outside the filter
        assert len(set(found) & set(expected)) >= 10
    assert set(found) <= set(live) and len(found) == min(12, len(live))
    assert np.allclose(scores, [cosines[r] for r in found], atol=1e-5)
    assert scores == sorted(scores, reverse=True)


def test_a_filter_with_no_live_row_finds_nothing():
    index = DenseIndex(32)
    index.add([1, 2], unit(np.random.default_rng(1), 2))
    index.remove([1])
    assert index.search(unit(np.random.default_rng(2), 1)[0], 5, {1, 99}) == ([], [])


def test_a_search_on_one_thread_is_faiss_on_two_and_leaves_the_thread_count_as_it_was():
    """A search runs FAISS on one OpenMP thread (index.dense._one_thread): the same rows and
    scores as on two, and the calling thread's count is left as it was."""
    import faiss
    rng = np.random.default_rng(5)
    index = DenseIndex(32)
    index.add(list(range(4000)), unit(rng, 4000))
    query = unit(rng, 1)[0]
    before = faiss.omp_get_max_threads()
    real, during = index._faiss, []

    class Watched:  # FAISS itself, noting the OpenMP thread count each search runs with
        def search(self, *args):
            during.append(faiss.omp_get_max_threads())
            return real.search(*args)

        def __getattr__(self, name):
            return getattr(real, name)
    try:
        faiss.omp_set_num_threads(2)
        two = real.search(query.reshape(1, -1), 300)
        index._faiss = Watched()
        assert index.search(query, 300) == (two[1][0].tolist(), two[0][0].tolist())
        assert during and set(during) == {1}
        assert faiss.omp_get_max_threads() == 2
    finally:
        index._faiss = real
        faiss.omp_set_num_threads(before)
