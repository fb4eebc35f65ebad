"""Test-wide settings.

Hypothesis runs the same examples on every run by default (the ``ci`` profile), so a red CI
reproduces and a green one does not depend on luck. To search for new failures, run the
fuzz tests with fresh random examples::

    HYPOTHESIS_PROFILE=explore python -m pytest tests/test_fuzz_*.py tests/test_properties.py \
        tests/test_disk_faults.py --hypothesis-seed=$RANDOM

and turn anything it finds into a plain regression test.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
