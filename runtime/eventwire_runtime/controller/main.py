"""`eventwire-runtime controller`: run the kopf operator with eventwire's handlers.

    eventwire-runtime controller [--namespace NS ...] [--liveness URL] [--verbose | --debug]

Without --namespace it serves every namespace (cluster-wide). It runs standalone (one replica, no
kopf peering objects needed) unless EVENTWIRE_PEERING names a peering object: then several
replicas may run and only the oldest is active (see `peering`). --liveness serves kopf's health
probe, e.g.
`http://0.0.0.0:8080/healthz`. Settings come from the environment (see `settings`); an invalid
variable exits with status 2 and names it.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import time

from eventwire_runtime.controller import peering
from eventwire_runtime.controller.settings import ControllerSettings, SettingsError


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="eventwire-runtime controller", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "-n", "--namespace", action="append", default=[], help="serve only this namespace (repeatable)"
    )
    parser.add_argument(
        "--liveness", default=None, help="kopf liveness endpoint URL, e.g. http://0.0.0.0:8080/healthz"
    )
    level = parser.add_mutually_exclusive_group()
    level.add_argument("-v", "--verbose", action="store_true", help="log at INFO with kopf's details")
    level.add_argument("--debug", action="store_true", help="log at DEBUG")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Run the operator until SIGTERM/SIGINT; returns the exit status."""
    args = parse_args(argv)
    try:
        settings = ControllerSettings.from_env(os.environ)  # fail fast, before kopf starts
    except SettingsError as exc:
        print(f"eventwire-runtime controller: configuration error: {exc}", file=sys.stderr)
        return 2
    import kopf
    from kopf._core.engines.indexing import OperatorIndexers  # not exported by kopf
    from kopf._core.engines.peering import detect_own_id  # not exported by kopf

    import eventwire_runtime.controller  # noqa: F401  (registers the handlers)

    kopf.configure(verbose=args.verbose, debug=args.debug, log_prefix=True)
    # Our own indexers, so that the cache resync can purge objects kopf saw no DELETED for.
    indexers = OperatorIndexers()
    memo = kopf.Memo()
    memo.indexers = indexers
    if not (args.verbose or args.debug):
        logging.getLogger().setLevel(logging.INFO)
        # kopf logs every handler call at INFO ("Handler ... succeeded"): per watch event, at scale
        # most of the operator's output and a tenth of its CPU. --verbose shows them.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    if settings.peering:
        own_priority = peering.priority(time.time(), random.randrange(peering.TIEBREAK_SPAN))
        logging.getLogger(__name__).info(
            f"peering through {settings.peering!r} with priority {own_priority} (the oldest replica is active)"
        )
        # kopf's own identity (POD_ID, else generated), kept for the resync's standby check.
        memo.identity = detect_own_id(manual=False)
        memo.namespaces = tuple(args.namespace)
        kopf.run(
            standalone=False,
            peering_name=settings.peering,
            priority=own_priority,
            identity=memo.identity,
            clusterwide=not args.namespace,
            namespaces=args.namespace,
            liveness_endpoint=args.liveness,
            indexers=indexers,
            memo=memo,
        )
    else:
        logging.getLogger(__name__).info("standalone: no peering, this must be the only replica")
        kopf.run(
            standalone=True,
            clusterwide=not args.namespace,
            namespaces=args.namespace,
            liveness_endpoint=args.liveness,
            indexers=indexers,
            memo=memo,
        )
    return 0
