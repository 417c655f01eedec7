"""localcloud/progress.py: drawn in place on a terminal, silent elsewhere but for a summary line."""

from __future__ import annotations

import io
import threading

from localcloud.progress import Elapsed, Progress, amount, duration, elapsed


class Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_terminal_gets_a_bar_with_rate_and_time_left_redrawn_in_place():
    stream, clock = Stream(tty=True), Clock()
    bar = Progress("importing", total=1000, unit="rows", stream=stream, interval=0, clock=clock)
    clock.now += 30  # a slow start (an upload, a cold start) before the first report
    bar.set(0)
    assert "left" not in stream.getvalue()  # no rate yet
    clock.now += 2
    bar.set(250)
    drawn = stream.getvalue().rsplit("\r", 1)[1]
    assert drawn.startswith("  importing  [######..................]  25%  250 rows/1,000 rows")
    assert "125 rows/s" in drawn
    assert "0:06 left" in drawn  # 750 rows at 125 a second
    clock.now += 2
    bar.set(500, status="applying")
    last = stream.getvalue().rsplit("\r", 1)[1]
    assert "50%" in last and "0:04 left" in last and last.rstrip().endswith("applying")
    assert "\n" not in stream.getvalue()  # one line, overwritten
    bar.close("  imported 1,000 rows")
    # the bar is blanked, then the summary stays
    assert stream.getvalue().endswith("\r" + " " * len(last) + "\r  imported 1,000 rows\n")


def test_not_a_terminal_draws_nothing_and_prints_only_the_summary():
    stream = Stream(tty=False)
    with Progress("importing", total=10, unit="rows", stream=stream, interval=0) as bar:
        for n in range(11):
            bar.set(n)
        assert stream.getvalue() == ""
        bar.close("  imported 10 rows in 1s")
    assert stream.getvalue() == "  imported 10 rows in 1s\n"
    silent = Stream(tty=False)
    with Progress("counting", stream=silent) as bar:
        bar.advance(5)
    assert silent.getvalue() == ""


def test_a_stream_without_isatty_counts_as_not_a_terminal():
    class Bare:
        def __init__(self) -> None:
            self.written: list[str] = []

        def write(self, text: str) -> int:
            self.written.append(text)
            return len(text)

        def flush(self) -> None:
            pass

    bare = Bare()
    bar = Progress("x", total=3, stream=bare)  # type: ignore[arg-type]
    bar.set(2)
    bar.close()
    assert not bar.enabled and bare.written == []


def test_redraws_are_throttled_to_the_interval():
    stream, clock = Stream(tty=True), Clock()
    bar = Progress("rows", total=100, stream=stream, interval=0.5, clock=clock)
    for n in range(50):
        bar.set(n)  # the clock does not move: only the first is drawn
    assert stream.getvalue().count("\r") == 1
    clock.now += 0.6
    bar.set(60)
    assert stream.getvalue().count("\r") == 2 and "60%" in stream.getvalue()


def test_without_a_total_a_counter_with_rate_and_time_spent():
    stream, clock = Stream(tty=True), Clock()
    bar = Progress("downloading", unit="B", stream=stream, interval=0, clock=clock)
    bar.set(0)
    clock.now += 4
    bar.set(8_000_000)
    text = bar.line()
    assert text == "  downloading  8.0 MB  2.0 MB/s  0:04"
    assert "%" not in stream.getvalue() and "left" not in stream.getvalue()


def test_elapsed_against_an_expectation_then_past_it():
    clock = Clock()
    bar = Elapsed("training", expected=20, stream=Stream(tty=True), clock=clock)
    clock.now += 5
    bar.tick()
    assert bar.line().startswith("  training  [######..................]  25%  0:05/0:20")
    assert "0:15 left" in bar.line() and bar.line().endswith("(expected)")
    clock.now += 25
    bar.tick()
    assert bar.line() == "  training  0:30, expected about 0:20"
    unknown = Elapsed("training", expected=None, stream=Stream(tty=True), clock=clock)
    clock.now += 3
    unknown.tick()
    assert unknown.line() == "  training  0:03"


def test_elapsed_ticks_on_a_terminal_only():
    ticked = threading.Event()

    class Watched(Stream):
        def write(self, text: str) -> int:
            if "training" in text:
                ticked.set()
            return super().write(text)

    watched = Watched(tty=True)
    with elapsed("training", expected=60, stream=watched, every=0.01):
        assert ticked.wait(2)
    assert watched.getvalue().endswith("\r")  # blanked at the end
    before, stream = threading.active_count(), Stream(tty=False)
    with elapsed("training", expected=60, stream=stream, every=0.01) as bar:
        assert threading.active_count() == before  # no ticker thread
        bar.close("  trained in 1s")
    assert stream.getvalue() == "  trained in 1s\n"


def test_amounts_and_durations():
    assert amount(1234567, "rows") == "1,234,567 rows"
    assert amount(512, "B") == "512 B" and amount(68_500_742, "B") == "68.5 MB"
    assert amount(1_500, "B") == "1.5 kB" and amount(2.5e9, "B") == "2.5 GB"
    assert amount(75, "s") == "1:15" and amount(3, "") == "3"
    assert duration(7) == "0:07" and duration(3723) == "1:02:03" and duration(-1) == "0:00"
