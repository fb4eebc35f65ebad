"""The README quickstart, runnable as is."""

import numpy as np

from svm_retrievers import SVMIndex

rng = np.random.default_rng(0)
doc_vectors = rng.normal(size=(1000, 384))  # your (N, D) document embeddings
ids = [f"doc-{i}" for i in range(1000)]

index = SVMIndex.from_embeddings(doc_vectors, ids=ids)
query = doc_vectors[7] + 0.5 * rng.normal(size=384)  # your query embedding

for hit in index.search(query, k=3, mode="svm"):  # "svm" | "knn" | "hybrid"
    print(
        hit.id,
        round(hit.score, 4),
        round(hit.knn_score, 4),
        round(hit.svm_score, 4),
        round(hit.hybrid_score, 4),
    )
