"""Developer tools: benchmarks that run streamseg against its peers (Ultralytics, torchvision, OpenCV,
Ray's defaults) in the same run and print ratios, plus a soak test and a few helpers. They are not
tests (``tests/`` checks behaviour, never wall-clock speed) and are not installed with the package.

Run one from the repository root, with streamseg's venv::

    python -m tools.bench_vs_ultralytics --help
    python -m tools.bench_render --runs 50

Each imports this checkout's ``streamseg`` and its harness ``streamseg.testing`` (never ``tests.*``);
what several tools share (paths, the peer venv, alternating arms with medians and ratios, tables,
child processes) is in ``tools.common``. ``peer_ultralytics.py`` is the exception: it runs inside the
peer's own venv, which has no streamseg, and is launched there by path.
"""
