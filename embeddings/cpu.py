"""The CPU this process runs on: its model name and the instruction sets that decide encoder speed."""

from __future__ import annotations

import platform
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

# The flags that change which encoder is fastest: int8 matrix kernels need VNNI (or AMX) to beat float.
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")
# ISA classes, best first: a CPU belongs to the first whose flags it has all of.
CLASSES = (
    ("amx", ("amx_tile", "amx_int8")),
    ("avx512-vnni", ("avx512f", "avx512_vnni")),
    ("avx512", ("avx512f",)),
    ("avx2", ("avx2",)),
    ("baseline", ()),
)


@dataclass(frozen=True)
class Cpu:
    """A CPU's model name and which of FLAGS it has."""

    model: str
    flags: frozenset[str]

    @property
    def isa(self) -> str:
        """Return the CPU's ISA class (see CLASSES)."""
        return isa_class(self.flags)

    def describe(self) -> str:
        """Return one line: the model, each flag that matters as yes/no, and the ISA class."""
        marks = " ".join(f"{flag}={'yes' if flag in self.flags else 'no'}" for flag in FLAGS)
        return f"CPU {self.model} ({self.isa}): {marks}"


def isa_class(flags: Iterable[str]) -> str:
    """Return the ISA class of a set of CPU flags: amx, avx512-vnni, avx512, avx2 or baseline."""
    have = set(flags)
    return next(name for name, needed in CLASSES if have.issuperset(needed))


def parse_cpuinfo(text: str) -> Cpu:
    """Return the CPU described by /proc/cpuinfo text (its first processor)."""
    model, flags = "", frozenset[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split()) & frozenset(FLAGS)
    return Cpu(model or platform.processor() or "unknown", flags)


@cache
def this_cpu() -> Cpu:
    """Return the CPU of this machine (read once; no flags known off Linux)."""
    try:
        return parse_cpuinfo(Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return Cpu(platform.processor() or "unknown", frozenset())
