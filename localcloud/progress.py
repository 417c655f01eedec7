"""Progress of the local cloud's long steps: a bar (or a counter, when the total is unknown) with
the rate and the time left, redrawn in place on stderr while it is a terminal.

Elsewhere (CI logs, a pipe, a file) nothing is drawn: a step prints at most the one line its
caller passes to `close(summary)`, so logs stay readable. No dependency beyond the standard
library.

    with Progress("importing", total=len(rows), unit="rows") as bar:
        for done in poll():
            bar.set(done)

    with elapsed("training", expected=previous_seconds):  # time against an expectation
        train()
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TextIO

WIDTH = 24  # the bar's cells


def on_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed
        return False


def duration(seconds: float) -> str:
    """0:07, 1:05, 1:02:03."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def amount(value: float, unit: str) -> str:
    """A count with its unit: bytes as kB/MB/GB (decimal, as Maven and pip print them), seconds as
    a duration, anything else with thousands separators."""
    if unit == "B":
        for scale, name in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
            if value >= scale:
                return f"{value / scale:.1f} {name}"
        return f"{value:.0f} B"
    if unit == "s":
        return duration(value)
    text = f"{value:,.0f}"
    return f"{text} {unit}" if unit else text


class Progress:
    """Work done toward `total` (None: unknown, a counter), drawn on `stream` (stderr by default)
    when it is a terminal, at most every `interval` seconds. `clock` is injectable for tests."""

    def __init__(
        self,
        label: str,
        total: float | None = None,
        *,
        unit: str = "",
        stream: TextIO | None = None,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = on_terminal(self.stream)
        self.interval, self.clock = interval, clock
        self.done = 0.0
        self.status = ""  # a word after the figures, e.g. the import's "applying"
        self.started = clock()
        # the first report: the rate counts from there, so that a slow start (a cold start, an
        # upload before the first row is read) does not stretch the time left for long after
        self._origin: tuple[float, float] | None = None
        self._drawn_at: float | None = None
        self._width = 0  # of the last line drawn, to blank it
        self._lock = threading.Lock()
        self.closed = False

    # -- what callers report ---------------------------------------------------------------
    def set(self, done: float, status: str | None = None) -> None:
        if self._origin is None:
            self._origin = (self.clock(), done)
        self.done = done
        if status is not None:
            self.status = status
        self._draw()

    def advance(self, amount: float = 1) -> None:
        self.set(self.done + amount)

    def close(self, summary: str | None = None) -> None:
        """Erase the bar (on a terminal), then print `summary` if given: the step's one line."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            if self.enabled and self._width:
                self.stream.write("\r" + " " * self._width + "\r")
            if summary:
                self.stream.write(summary + "\n")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    # -- what is drawn ---------------------------------------------------------------------
    def rate(self) -> float | None:
        """Per second since the first report (None until a second one moved the count)."""
        if self._origin is None:
            return None
        since, first = self._origin
        spent, moved = self.clock() - since, self.done - first
        return moved / spent if spent > 0 and moved > 0 else None

    def remaining(self) -> float | None:
        """Seconds left at the rate so far (None while it cannot be told)."""
        rate = self.rate()
        if self.total is None or rate is None:
            return None
        return max(0.0, (self.total - self.done) / rate)

    def line(self) -> str:
        """The text drawn now: label, bar and percentage (with a total), counts, rate, time left."""
        parts = [f"  {self.label}"]
        if self.total:
            share = min(1.0, max(0.0, self.done / self.total))
            filled = int(share * WIDTH)
            parts.append(f"[{'#' * filled}{'.' * (WIDTH - filled)}] {share * 100:3.0f}%")
            parts.append(f"{amount(self.done, self.unit)}/{amount(self.total, self.unit)}")
        else:
            parts.append(amount(self.done, self.unit))
        rate = self.rate()
        if rate is not None and self.unit != "s":
            parts.append(f"{amount(rate, self.unit)}/s")
        left = self.remaining()
        if left is not None:
            parts.append(f"{duration(left)} left")
        elif self.unit != "s":
            parts.append(duration(self.clock() - self.started))
        if self.status:
            parts.append(self.status)
        return "  ".join(parts)

    def _draw(self, force: bool = False) -> None:
        if not self.enabled or self.closed:
            return
        now = self.clock()
        if not force and self._drawn_at is not None and now - self._drawn_at < self.interval:
            return
        with self._lock:
            if self.closed:
                return
            text = self.line()
            pad = max(0, self._width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self.stream.flush()
            self._width, self._drawn_at = len(text), now


class Elapsed(Progress):
    """Time spent on work that reports nothing until it ends (training, an install), against the
    seconds it is `expected` to take (e.g. the previous run's): a bar while within the
    expectation, then a counter that says it is taking longer."""

    def __init__(
        self,
        label: str,
        expected: float | None = None,
        *,
        stream: TextIO | None = None,
        interval: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        total = expected if expected and expected > 0 else None
        super().__init__(label, total, unit="s", stream=stream, interval=interval, clock=clock)

    def tick(self) -> None:
        self.set(self.clock() - self.started)

    def remaining(self) -> float | None:
        if self.total is None:
            return None
        return max(0.0, self.total - self.done)

    def line(self) -> str:
        if self.total is None:
            return f"  {self.label}  {duration(self.done)}" + (f"  {self.status}" if self.status else "")
        if self.done <= self.total:
            return super().line() + " (expected)"
        return f"  {self.label}  {duration(self.done)}, expected about {duration(self.total)}" + (
            f"  {self.status}" if self.status else ""
        )


@contextmanager
def elapsed(
    label: str,
    expected: float | None = None,
    *,
    stream: TextIO | None = None,
    every: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Elapsed]:
    """An Elapsed redrawn every `every` seconds by a thread of its own while the block runs (only
    on a terminal: elsewhere no thread is started and nothing is drawn)."""
    bar = Elapsed(label, expected, stream=stream, clock=clock)
    stop = threading.Event()
    ticker: threading.Thread | None = None
    if bar.enabled:

        def run() -> None:
            while not stop.wait(every):
                bar.tick()

        bar.tick()
        ticker = threading.Thread(target=run, name=f"progress-{label}", daemon=True)
        ticker.start()
    try:
        yield bar
    finally:
        stop.set()
        if ticker is not None:
            ticker.join()
        bar.close()
