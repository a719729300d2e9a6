"""Whether a wheel's arch list has code for a GPU: CUDA's compatibility rule, pure."""

from __future__ import annotations

import pytest

from streamseg.gpu.arch import ArchEntry, arch_problem, parse_arch

WHEEL_CU124 = ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]


@pytest.mark.parametrize(
    ("arch_list", "capability"),
    [
        (WHEEL_CU124, (9, 0)),  # its own sm
        (WHEEL_CU124, (8, 9)),  # Ada runs sm_86 code: same major, lower minor
        (["sm_80"], (8, 6)),
        (["sm_70", "compute_70"], (12, 0)),  # PTX is compiled by the driver for anything newer
        (["sm_90a"], (9, 0)),  # arch-specific code on its own GPU
        (["sm_75", "sm_120"], (12, 1)),
    ],
)
def test_code_that_runs(arch_list: list[str], capability: tuple[int, int]) -> None:
    assert arch_problem(arch_list, capability) is None


def test_a_gpu_newer_than_the_wheel_is_one_line_naming_both() -> None:
    problem = arch_problem(["sm_75", "sm_80", "sm_86", "sm_90"], (12, 0))
    assert problem == (
        "this PyTorch has kernels for sm_75..sm_90, the GPU is sm_120 (install a PyTorch build for it)"
    )


@pytest.mark.parametrize(
    ("arch_list", "capability", "words"),
    [
        (["sm_86"], (8, 0), ["kernels for sm_86", "the GPU is sm_80"]),  # a lower minor is not covered
        (["sm_90a"], (10, 0), ["sm_90a", "sm_100"]),  # arch-specific code runs nowhere else
        (["sm_120"], (7, 5), ["sm_120", "sm_75"]),  # an old GPU dropped from a new wheel
        (["compute_90"], (8, 9), ["PTX compute_90", "sm_89"]),  # PTX only runs forward
        ([], (8, 6), ["no CUDA kernels", "CUDA build"]),
    ],
)
def test_code_that_does_not_run(arch_list: list[str], capability: tuple[int, int], words: list[str]) -> None:
    problem = arch_problem(arch_list, capability)
    assert problem is not None
    for word in words:
        assert word in problem, problem


def test_parsing() -> None:
    assert parse_arch("sm_86") == ArchEntry(8, 6)
    assert parse_arch("sm_120") == ArchEntry(12, 0)
    assert parse_arch("compute_90") == ArchEntry(9, 0, ptx=True)
    assert parse_arch("sm_90a") == ArchEntry(9, 0, specific=True)
    assert parse_arch("sm_90a").name == "sm_90a"  # type: ignore[union-attr]
    assert parse_arch("gfx90a") is None
    assert parse_arch("") is None


def test_this_wheel_runs_on_the_gpus_it_lists() -> None:
    import torch

    for entry in torch.cuda.get_arch_list():
        parsed = parse_arch(entry)
        if parsed is not None:
            assert arch_problem(torch.cuda.get_arch_list(), (parsed.major, parsed.minor)) is None
