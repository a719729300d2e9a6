"""The ``streamseg`` command line: ``main`` parses and dispatches; each subcommand has its module
(``run``, ``segment``, ``gpu``: doctor and build-engine, ``cluster``), and heavy imports happen inside
them, so ``--help`` is instant."""

from __future__ import annotations

from streamseg.cli.main import build_parser, config_from_args, entry, main

__all__ = ["build_parser", "config_from_args", "entry", "main"]
