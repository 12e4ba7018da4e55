"""The test suite. No test reads a matrix.lock.json committed to the repository: the nightly commits real
MCR digests that the suite's synthetic images do not have. ``ARGOEXEC_BUILDER_LOCK=none`` is set here,
before any test module (tests/matrix_facts.py first) loads the matrix; lock tests name their own lock
(``load_matrix(path, lock=...)``, or the variable in a CLI run's environment)."""

import os

os.environ["ARGOEXEC_BUILDER_LOCK"] = "none"
