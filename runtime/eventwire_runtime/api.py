"""The eventwire API names the runtime shares with the component library.

The runtime cannot import `eventwire` (that would pull Pulumi into the image), so the group and
version strings live here too; tests/test_api_agreement.py checks both halves agree.
"""

from typing import Final

MESSAGING_GROUP: Final = "messaging.eventwire.dev"
SOURCES_GROUP: Final = "sources.eventwire.dev"
EVENTING_GROUP: Final = "eventing.eventwire.dev"
VERSION: Final = "v1"
MESSAGING_API_VERSION: Final = f"{MESSAGING_GROUP}/{VERSION}"
SOURCES_API_VERSION: Final = f"{SOURCES_GROUP}/{VERSION}"
EVENTING_API_VERSION: Final = f"{EVENTING_GROUP}/{VERSION}"
