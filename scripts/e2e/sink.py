"""The e2e sink: one small HTTP server behind the Services the channel-fanout example names
(audit, enricher, notifier, dead-letters). Standard library only: it runs in the runtime image.

Every CloudEvent (binary or structured mode) is logged as one line,
    received service=<first label of Host> path=<path> id=<id> type=<type>
which scripts/e2e-kind.sh waits for. POST /v1/enrich (the enricher) replies with a new event,
id `<id>-enriched`, which the dispatcher forwards to the reply channel. GET /healthz is the probe.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STRUCTURED = "application/cloudevents+json"


def event_of(headers: dict[str, str], body: bytes) -> tuple[str, str]:
    """(id, type) of a CloudEvent in binary or structured mode; empty strings when absent."""
    if headers.get("content-type", "").split(";")[0].strip() == STRUCTURED:
        try:
            event = json.loads(body)
        except ValueError:
            return "", ""
        return str(event.get("id", "")), str(event.get("type", ""))
    return headers.get("ce-id", ""), headers.get("ce-type", "")


class Sink(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        headers = {key.lower(): value for key, value in self.headers.items()}
        event_id, event_type = event_of(headers, body)
        service = headers.get("host", "").split(".")[0].split(":")[0]
        print(f"received service={service} path={self.path} id={event_id} type={event_type}", flush=True)
        if self.path == "/v1/enrich" and event_id:
            reply = json.dumps({"enriched": event_id}).encode()
            self.send_response(200)
            for key, value in (
                ("ce-specversion", "1.0"),
                ("ce-id", f"{event_id}-enriched"),
                ("ce-type", "dev.eventwire.e2e.enriched"),
                ("ce-source", "/e2e/enricher"),
                ("content-type", "application/json"),
                ("content-length", str(len(reply))),
            ):
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(reply)
            return
        self.send_response(202)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Only the `received` lines go to stdout."""


def main() -> None:
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer((os.environ.get("HOST", "0.0.0.0"), port), Sink)
    print(f"sink listening on {port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
