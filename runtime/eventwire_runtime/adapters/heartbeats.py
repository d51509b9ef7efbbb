"""heartbeats: the example ContainerSource image, a counter event every period.

Environment (besides the common contract in `env`; a ContainerSource gets K_SINK and
K_CE_OVERRIDES injected by the controller):

    HEARTBEATS_PERIOD   optional; seconds between beats, plain or ISO-8601 (default 5).
    HEARTBEATS_LABEL    optional; a label copied into every event's data (default "").
    POD_NAME            optional; names the emitting pod in `source` (default NAME).

Events: type `dev.knative.eventing.samples.heartbeat` (Knative's sample type), source
`https://eventwire.dev/heartbeats/#<NAMESPACE>/<POD_NAME>`, id the sequence number prefixed by the
pod name, data JSON `{"id": <seq>, "label": <label>}`. Beats are sent one after another; a
failed beat is logged and the next one still comes on schedule.
"""

from __future__ import annotations

import json
import logging
import time

from eventwire_runtime.adapters.base import BaseAdapter
from eventwire_runtime.adapters.env import AdapterEnv, env_seconds
from eventwire_runtime.adapters.events import SourceEvent, binary_message
from eventwire_runtime.adapters.sender import EventSender
from eventwire_runtime.delivery.errors import ConfigError

log = logging.getLogger(__name__)

HEARTBEAT_TYPE = "dev.knative.eventing.samples.heartbeat"


class HeartbeatsAdapter(BaseAdapter):
    """Sends a numbered heartbeat every HEARTBEATS_PERIOD seconds."""

    def __init__(self, env: AdapterEnv, sender: EventSender) -> None:
        super().__init__(env, sender)
        self.period = env_seconds(env.environ, "HEARTBEATS_PERIOD", 5.0)
        if self.period <= 0:
            raise ConfigError("HEARTBEATS_PERIOD must be greater than zero")
        self.label = env.environ.get("HEARTBEATS_LABEL", "")
        self.pod = env.environ.get("POD_NAME", "").strip() or env.name
        self.source = f"https://eventwire.dev/heartbeats/#{env.namespace}/{self.pod}"
        self.mode = f"every {self.period:g}s"
        self.sequence = 0

    async def run(self) -> None:
        self._ready = True
        next_beat = time.monotonic()
        while not self.stopping.is_set():
            self.sequence += 1
            data = json.dumps({"id": self.sequence, "label": self.label}).encode()
            event = SourceEvent(
                type=HEARTBEAT_TYPE,
                source=self.source,
                id=f"{self.pod}-{self.sequence}",
                data=data,
                datacontenttype="application/json",
            )
            headers, body = binary_message(event, self.env.ce_overrides)
            outcome = await self.sender.send(headers, body)
            if not outcome.accepted:
                log.error("heartbeat %d not delivered: %s", self.sequence, outcome.error)
            next_beat += self.period
            if await self.sleep_or_stop(next_beat - time.monotonic()):
                break
