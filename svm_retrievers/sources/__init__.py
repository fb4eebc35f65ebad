"""Candidate sources: where documents live, and exact SVM search over them.

:class:`InMemorySource` wraps an :class:`~svm_retrievers.SVMIndex`; :class:`MilvusSource`
a Milvus collection (embedded Milvus Lite or a server, through ``pymilvus``; import it from
:mod:`svm_retrievers.sources.milvus`, which needs the ``milvus`` extra).
:class:`CandidateSearcher` ranks any source's documents by the exact exemplar SVM.
"""

from .base import Candidates, CandidateSource
from .exact import CandidateSVM, candidate_svm, candidate_svm_batch, class_weights
from .memory import InMemorySource
from .searcher import CandidateSearcher

__all__ = [
    "CandidateSVM",
    "CandidateSearcher",
    "CandidateSource",
    "Candidates",
    "InMemorySource",
    "candidate_svm",
    "candidate_svm_batch",
    "class_weights",
]
