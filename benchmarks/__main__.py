"""`python -m benchmarks` (`make bench`): every harness in one run, each with bounded durations.

python -m benchmarks            # dispatcher vs nginx, then the adapters
python -m benchmarks.dispatcher --help
python -m benchmarks.adapters --help
"""

from __future__ import annotations

import importlib
import sys


def main() -> int:
    code = 0
    for name in ("benchmarks.dispatcher", "benchmarks.broker", "benchmarks.adapters"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        print(f"== {name}", flush=True)
        code = max(code, int(module.main([]) or 0))
    return code


if __name__ == "__main__":
    sys.exit(main())
