"""The line every speed bench prints with its figures: the CPU model and the instruction sets that matter."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embeddings.cpu import FLAGS, this_cpu


def cpu_line() -> str:
    """Return the CPU's model, its ISA class, each flag that matters and the core count, on one line."""
    return f"{this_cpu().describe()}; {os.cpu_count()} cores"


def cpu_record() -> dict[str, object]:
    """Return the same facts for a bench's JSON line."""
    cpu = this_cpu()
    return {
        "cpu": cpu.model,
        "isa": cpu.isa,
        "flags": [f for f in FLAGS if f in cpu.flags],
        "cores": os.cpu_count(),
    }


def print_cpu() -> None:
    """Print the CPU line (benches call it before their figures)."""
    print(cpu_line(), flush=True)


if __name__ == "__main__":
    print_cpu()
