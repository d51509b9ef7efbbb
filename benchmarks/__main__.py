"""`python -m benchmarks` (`make bench`): every harness in one run, each with bounded durations.

python -m benchmarks            # dispatcher vs nginx, the adapters, then the controller
python -m benchmarks.dispatcher --help
python -m benchmarks.adapters --help
python -m benchmarks.controller --help
"""

from __future__ import annotations

import importlib
import sys


def main() -> int:
    code = 0
    for name in (
        "benchmarks.dispatcher",
        "benchmarks.broker",
        "benchmarks.adapters",
        "benchmarks.controller",
    ):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        print(f"== {name}", flush=True)
        code = max(code, int(module.main([]) or 0))
    return code


if __name__ == "__main__":
    sys.exit(main())
