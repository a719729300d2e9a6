"""The house rules that are not about imports (those are import-linter's contracts, run by CI): no
module over 400 lines, and the tests mirror the package."""

from __future__ import annotations

from pathlib import Path

import streamseg

PACKAGE = Path(streamseg.__file__).parent
TESTS = Path(__file__).parent
MAX_LINES = 400


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"split these (one job per module): {long}"


def test_every_package_has_its_test_folder() -> None:
    packages = {p.parent.relative_to(PACKAGE) for p in PACKAGE.rglob("__init__.py")} - {Path(".")}
    missing = sorted(str(p) for p in packages if not (TESTS / p).is_dir())
    assert not missing, f"tests/ mirrors streamseg/: no tests/ folder for {missing}"
