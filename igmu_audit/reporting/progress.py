"""Cost first, then progress: what a generation will cost, and how far it has got.

Before an audit generates, one line says how many images it will generate, how many
the cache already holds and how long that should take at the rate measured on this
machine (``<cache>/rates.json``, per model, device and image size, updated after
every generation; "time unknown" until one was measured). While it generates, a line
every ``EVERY_S`` seconds and one when it is done give generated / cached / to go,
the rate and the ETA.

Under pytest the lines go through the terminal reporter with capture suspended (the
way pytest's live logging writes), so they appear while the run is going, never
afterwards under "Captured stderr"; ``-q`` silences them. Under xdist a worker's
terminal is not the user's: workers stay silent and hand their lines to the
controller with the test's report, which prints them when the report arrives (so per
audit, not live). Outside pytest a tqdm bar on stderr is kept.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Generator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

RATES_FILE = "rates.json"
#: seconds between two live lines of one generation
EVERY_S = 10.0
#: the user property that carries a worker's lines to the controller
PROPERTY = "igmu_progress"

_active: ProgressReporter | None = None


def rate_key(fields: Mapping[str, Any], device: str) -> str:
    """What a rate depends on: the model, the device, steps, image size and dtype."""
    return (
        f"{fields.get('model')}|{device}|{fields.get('steps')} steps|"
        f"{fields.get('height')}x{fields.get('width')}|{fields.get('dtype')}"
    )


def read_rates(cache_root: Path | None) -> dict[str, Any]:
    """The measured rates (``{}`` without a cache or when the file is unreadable)."""
    if cache_root is None:
        return {}
    try:
        data = json.loads((cache_root / RATES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    rates = data.get("rates") if isinstance(data, dict) else None
    return rates if isinstance(rates, dict) else {}


def measured_rate(cache_root: Path | None, key: str) -> float | None:
    """Images per second last measured for ``key``; ``None`` when never (or unusable)."""
    entry = read_rates(cache_root).get(key)
    value = entry.get("images_per_second") if isinstance(entry, dict) else None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


def store_rate(cache_root: Path | None, key: str, images: int, seconds: float) -> None:
    """Record the rate of a finished generation (atomically; a failed write is no error)."""
    from igmu_audit._atomic import atomic_write_json

    if cache_root is None or images <= 0 or seconds <= 0:
        return
    rates = read_rates(cache_root)
    rates[key] = {
        "images_per_second": images / seconds,
        "images": images,
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        atomic_write_json(cache_root / RATES_FILE, {"version": 1, "rates": rates})
    except OSError:
        return


def duration(seconds: float) -> str:
    """``45s``, ``3m05s``, ``1h02m``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def cost_line(desc: str, todo: int, cached: int, rate: float | None) -> str:
    """``igmu-audit: assert_forgotten: unl: 24 to generate, 8 cached; about 1m12s at 0.33 img/s``."""
    head = f"igmu-audit: {desc}: {todo} to generate, {cached} cached"
    if todo == 0:
        return f"{head}; nothing to generate"
    if rate is None:
        return f"{head}; time unknown (no rate measured on this machine yet)"
    return f"{head}; about {duration(todo / rate)} at {rate:.3g} img/s (measured here)"


def progress_line(desc: str, done: int, cached: int, todo: int, seconds: float) -> str:
    """``igmu-audit: ...: 8 generated, 8 cached, 16 to go; 0.33 img/s; ETA 48s`` (or ``took``)."""
    rate = done / seconds if seconds > 0 and done else None
    left = todo - done
    shown = f"{rate:.3g} img/s" if rate else "rate unknown"
    tail = f"took {duration(seconds)}" if left == 0 else (
        f"ETA {duration(left / rate)}" if rate else "ETA unknown"
    )  # fmt: skip
    return f"igmu-audit: {desc}: {done} generated, {cached} cached, {left} to go; {shown}; {tail}"


class Meter:
    """One generation's progress: the cost line when built, then ``update(n)`` per batch.

    Used as ``with meter as bar: ... bar.update(len(batch))``, like the tqdm bar it
    replaces; leaving the block stores the measured rate.
    """

    def __init__(self, desc: str, *, todo: int, cached: int, key: str,
                 cache_root: Path | None, enabled: bool = True) -> None:  # fmt: skip
        self.desc, self.todo, self.cached = desc, todo, cached
        self.key, self.cache_root = key, cache_root
        self.done = 0
        self._write = _writer(enabled)
        self._bar: Any = None
        self._start = self._last = time.monotonic()
        if self._write is not None:
            rate = measured_rate(cache_root, key)
            self._write(cost_line(desc, todo, cached, rate))
        self._tqdm = enabled and _active is None and todo > 0

    def __enter__(self) -> Meter:
        if self._tqdm:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.todo, desc=self.desc, unit="img")
        self._start = self._last = time.monotonic()
        return self

    def update(self, n: int) -> None:
        """``n`` more images generated; a live line at most every ``EVERY_S`` seconds."""
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        now = time.monotonic()
        if (
            self._write is not None
            and self.done < self.todo
            and now - self._last >= EVERY_S
        ):
            self._last = now
            self._write(self._line(now))

    def _line(self, now: float) -> str:
        return progress_line(
            self.desc, self.done, self.cached, self.todo, now - self._start
        )

    def __exit__(self, *exc: object) -> None:
        now = time.monotonic()
        if self._bar is not None:
            self._bar.close()
        if self.done:
            store_rate(self.cache_root, self.key, self.done, now - self._start)
        if self._write is not None and self.todo:
            self._write(self._line(now))


def meter(desc: str, *, todo: int, cached: int, fields: Mapping[str, Any], device: str,
          cache: Any = None, enabled: bool = True) -> Meter:  # fmt: skip
    """A ``Meter`` for one call of ``iter_generated`` (``cache``: its ``ImageCache`` or None)."""
    root = getattr(cache, "local_root", None)  # a URL cache keeps no rates file
    return Meter(desc, todo=todo, cached=cached, key=rate_key(fields, device),
                 cache_root=root, enabled=enabled)  # fmt: skip


def _writer(enabled: bool) -> Callable[[str], None] | None:
    if not enabled or _active is None or _active.quiet:
        return None
    return _active.emit


class ProgressReporter:
    """The pytest side: writes lines live (or hands them to the controller under xdist)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.quiet = config.get_verbosity() < 0
        self.worker = hasattr(config, "workerinput")
        self.pending: list[str] = []
        self.previous: ProgressReporter | None = None

    def emit(self, line: str) -> None:
        """Print ``line`` now, above pytest's capture; a worker keeps it for its report."""
        if self.worker:
            self.pending.append(line)
            return
        self.write(line)

    def write(self, line: str) -> None:
        """Write one line through the terminal reporter with capture suspended."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if capture is None:
            reporter.write_line(line)
            return
        with capture.global_and_fixture_disabled():
            reporter.ensure_newline()
            if self.config.get_terminal_writer().width_of_current_line:
                reporter.write("\n")  # after xdist's progress characters
            reporter.write_line(line)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self,
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """A worker sends the lines of this phase with its report."""
        report = yield
        if self.pending:
            report.user_properties.append((PROPERTY, "\n".join(self.pending)))
            self.pending.clear()
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """The controller prints a worker's lines when its report arrives."""
        node = getattr(report, "node", None)
        if self.worker or self.quiet or node is None:
            return
        worker = getattr(getattr(node, "gateway", None), "id", None)
        prefix = f"[{worker}] " if worker else ""
        for name, value in report.user_properties:
            if name == PROPERTY:
                for line in str(value).splitlines():
                    self.write(prefix + line)


def activate(config: pytest.Config) -> ProgressReporter:
    """Install the reporter for this run and silence the libraries' own loading bars."""
    import os

    global _active
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    reporter = ProgressReporter(config)
    reporter.previous, _active = _active, reporter
    return reporter


def deactivate(reporter: ProgressReporter) -> None:
    """Restore the enclosing run's reporter (nested pytester runs leave no trace)."""
    global _active
    if _active is reporter:
        _active = reporter.previous


def quiet_libraries() -> None:
    """Silence diffusers' and transformers' "Loading pipeline components" bars."""
    import diffusers.utils.logging as diffusers_logging

    diffusers_logging.disable_progress_bar()
    try:
        import transformers.utils.logging as transformers_logging
    except ImportError:
        return
    transformers_logging.disable_progress_bar()
