"""The machine a speed figure was measured on: CPU model, its relevant flags, the cores used.

Every speed table of bench/ names it (a ratio to PyTorch depends on the CPU: BUILD_NOTES).

  >>> describe()
  {'model': 'Intel(R) Xeon(R) Processor', 'flags': 'avx2 fma avx512f avx512_bf16 amx_bf16 ...',
   'cores_visible': 2, 'cores_allowed': [0]}
"""

import os
import subprocess

# The flags that decide which kernels the frameworks can use on this CPU.
FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile",
         "amx_bf16", "amx_int8")


def _lscpu():
  try:
    out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
  except (OSError, subprocess.CalledProcessError):
    return {}
  return dict(line.split(":", 1) for line in out.splitlines() if ":" in line)


def describe():
  """{model, flags (those of FLAGS the CPU has, lscpu's spelling), cores_visible,
  cores_allowed (this process's affinity: taskset)}."""
  info = {k.strip(): v.strip() for k, v in _lscpu().items()}
  present = set(info.get("Flags", "").split())
  return {"model": info.get("Model name", "unknown"),
          "flags": " ".join(f for f in FLAGS if f in present) or "none of " + " ".join(FLAGS),
          "cores_visible": os.cpu_count(),
          "cores_allowed": sorted(os.sched_getaffinity(0))}


def line():
  """One line for a table's header."""
  d = describe()
  return (f"CPU: {d['model']}; flags: {d['flags']}; cores {d['cores_allowed']} of "
          f"{d['cores_visible']}")
