"""ProgressBars: bars only for sources of known length, quiet mode, fps shown."""

from __future__ import annotations

import io

from streamseg.telemetry import ProgressBars


def test_per_source_bars_show_counts_and_rate() -> None:
    out = io.StringIO()
    with ProgressBars({"a": 10, "b": 5, "cam0": None}, file=out) as bars:
        assert bars.enabled
        for _ in range(10):
            bars.update("a")
        bars.update("b", 5)
        bars.update("cam0")  # unknown length: no bar, no error
    text = out.getvalue()
    assert "10/10" in text
    assert "5/5" in text
    assert "frame/s" in text
    assert "cam0" not in text


def test_combined_bar() -> None:
    out = io.StringIO()
    with ProgressBars({"a": 3, "b": 4}, combined=True, file=out) as bars:
        bars.update("a", 3)
        bars.update("b", 4)
    assert "7/7" in out.getvalue()
    assert "all sources" in out.getvalue()


def test_quiet_and_unknown_lengths_write_nothing() -> None:
    out = io.StringIO()
    for bars in (
        ProgressBars({"a": 10}, quiet=True, file=out),
        ProgressBars({"cam": None, "x": 0}, file=out),
    ):
        assert not bars.enabled
        bars.update("a")
        bars.close()
    assert out.getvalue() == ""


def test_close_twice() -> None:
    bars = ProgressBars({"a": 2}, file=io.StringIO())
    bars.close()
    bars.close()
    bars.update("a")
