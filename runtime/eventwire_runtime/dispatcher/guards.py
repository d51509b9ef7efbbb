"""The dispatcher's task-boundary guards: the few places that catch any exception.

Each sits where one bug must not stop a loop for good (the routes watch, a routing listener) or
leave a client without an answer (an ingress request): it logs the error with its traceback and
counts it here by place. The metrics expose the counts as
`eventwire_dispatcher_internal_errors_total{where}`; any count above 0 is a bug to report.
Errors that are expected (bad input, a failed request to the API server) are caught by their own
names where they happen and never reach a guard.
"""

from __future__ import annotations

import logging

# Counts by place. Process-wide, like the Trigger counts (broker.STATS): a guard may fire before
# any metrics object exists, and a count must survive whatever object raised.
CAUGHT: dict[str, int] = {}


def caught(
    where: str, logger: logging.Logger, message: str, *args: object, error: BaseException | None = None
) -> None:
    """Log the exception being handled (or `error`) with its traceback and count it under `where`."""
    logger.error(message, *args, exc_info=error if error is not None else True)
    CAUGHT[where] = CAUGHT.get(where, 0) + 1
