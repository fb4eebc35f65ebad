"""``python -m svm_retrievers``: the ``svm-retrievers`` command line."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
