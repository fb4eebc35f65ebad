"""A lock that objects holding one can be deep-copied and pickled with."""

from __future__ import annotations

import threading
from typing import Any


class CopyableLock:
    """A ``threading.Lock`` that deep-copies and pickles as a new, unlocked lock.

    The indexes and adapters serialize their writes with one; with this lock they can be
    copied with ``copy.deepcopy`` (or pydantic's ``model_copy(deep=True)``) and sent to
    worker processes: the copy guards its own, copied state, so no lock is shared.
    """

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def __deepcopy__(self, memo: dict[int, Any]) -> CopyableLock:
        return CopyableLock()

    def __reduce__(self) -> tuple[type[CopyableLock], tuple[()]]:
        return (CopyableLock, ())
