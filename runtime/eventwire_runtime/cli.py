"""`eventwire-runtime`: the image's single entrypoint.

    eventwire-runtime controller [kopf options]
    eventwire-runtime dispatcher [options]
    eventwire-runtime adapter <kind> [options]

Each subcommand's module is imported only when chosen, so the dispatcher does not load kopf and
an adapter does not load the broker clients it does not use.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

# subcommand -> module whose `main(argv) -> int` runs it
SUBCOMMANDS: dict[str, str] = {
    "controller": "eventwire_runtime.controller.main",
    "dispatcher": "eventwire_runtime.dispatcher.main",
    "adapter": "eventwire_runtime.adapters.main",
}

USAGE = "usage: eventwire-runtime {controller|dispatcher|adapter <kind>} [options]"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    module_name = SUBCOMMANDS.get(command)
    if module_name is None:
        print(f"eventwire-runtime: unknown subcommand {command!r}\n{USAGE}", file=sys.stderr)
        return 2
    entry: Callable[[list[str]], int] = importlib.import_module(module_name).main
    return entry(rest)


if __name__ == "__main__":
    sys.exit(main())
