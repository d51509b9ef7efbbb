"""The e2e producer: post COUNT binary-mode CloudEvents to a channel address from inside the
cluster (run in the sink's pod, a namespace without sidecars) and print each accepted id.

    python produce.py <channel url> <count> <id prefix>

Exit status 1 unless the channel accepted (202) every event. Standard library only.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request


def post(url: str, event_id: str) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps({"order": event_id}).encode(),
        method="POST",
        headers={
            "ce-specversion": "1.0",
            "ce-id": event_id,
            "ce-type": "dev.eventwire.e2e.order",
            "ce-source": "/e2e/producer",
            "content-type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def main(argv: list[str]) -> int:
    url, count, prefix = argv[0], int(argv[1]), argv[2]
    failed = 0
    for index in range(count):
        event_id = f"{prefix}-{index}"
        status = post(url, event_id)
        print(f"sent id={event_id} status={status}", flush=True)
        failed += status != 202
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
