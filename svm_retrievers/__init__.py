"""svm-retrievers: exemplar-SVM, kNN and hybrid retrieval that keeps every score.

The core (:class:`SVMIndex`) needs only numpy and scikit-learn; the LangChain and LlamaIndex
adapters live in :mod:`svm_retrievers.langchain` and :mod:`svm_retrievers.llama_index`.
"""

from .calibration import RELEVANCE_THRESHOLD
from .index import Hit, Scores, SVMIndex
from .params import DEFAULT_MODE, ScoringParams
from .validation import MODES

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MODE",
    "MODES",
    "RELEVANCE_THRESHOLD",
    "Hit",
    "SVMIndex",
    "Scores",
    "ScoringParams",
    "__version__",
]
