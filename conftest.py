"""Root conftest: keep every test and audit in this checkout offline and reproducible."""

from __future__ import annotations

import os

# No hub is reachable here; failing fast beats ~47 s of retries per attempted download.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
