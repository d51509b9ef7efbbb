"""Both halves name the API the same way: the runtime keeps its own copy of the group strings."""

import eventwire.api
import eventwire_runtime.api


def test_runtime_and_components_agree_on_groups_and_version() -> None:
    assert eventwire_runtime.api.MESSAGING_GROUP == eventwire.api.MESSAGING_GROUP
    assert eventwire_runtime.api.SOURCES_GROUP == eventwire.api.SOURCES_GROUP
    assert eventwire_runtime.api.EVENTING_GROUP == eventwire.api.EVENTING_GROUP
    assert eventwire_runtime.api.VERSION == eventwire.api.VERSION
    assert eventwire.api.kind_named("Channel").api_version == eventwire_runtime.api.MESSAGING_API_VERSION
    assert eventwire.api.kind_named("PingSource").api_version == eventwire_runtime.api.SOURCES_API_VERSION
    assert eventwire.api.kind_named("Broker").api_version == eventwire_runtime.api.EVENTING_API_VERSION
