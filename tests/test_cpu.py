"""The CPU's model and instruction sets, and the ISA class that picks the encoder."""

from __future__ import annotations

import pytest

from embeddings.cpu import FLAGS, isa_class, parse_cpuinfo, this_cpu

ZEN3 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse sse2 avx fma avx2 bmi2 sha_ni
processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse sse2 avx fma avx2 bmi2 sha_ni
"""


@pytest.mark.parametrize(
    ("flags", "isa"),
    [
        ({"avx2", "avx512f", "avx512_vnni", "amx_tile", "amx_int8", "amx_bf16"}, "amx"),
        ({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}, "avx512-vnni"),
        ({"avx2", "avx512f"}, "avx512"),
        ({"avx2", "fma"}, "avx2"),
        (set(), "baseline"),
    ],
)
def test_the_isa_class_is_the_best_one_whose_flags_the_cpu_has_all_of(flags: set[str], isa: str) -> None:
    assert isa_class(flags) == isa


def test_cpuinfo_gives_the_model_and_only_the_flags_that_matter() -> None:
    cpu = parse_cpuinfo(ZEN3)
    assert cpu.model == "AMD EPYC 7B13"
    assert cpu.flags == {"avx2"} and cpu.isa == "avx2"
    line = cpu.describe()
    assert line.startswith("CPU AMD EPYC 7B13 (avx2): avx2=yes avx512f=no")
    assert all(f"{flag}=" in line for flag in FLAGS)


def test_this_machine_is_described() -> None:
    cpu = this_cpu()
    assert cpu.model and cpu.isa == isa_class(cpu.flags)
