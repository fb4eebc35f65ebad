import numpy as np

from svm_retrievers import SVMIndex


def test_search_returns_k_hits():
    rng = np.random.default_rng(0)
    index = SVMIndex.from_embeddings(rng.normal(size=(20, 4)))
    assert len(index.search(rng.normal(size=4), k=3)) == 3
