"""Contract tests: the controller's real builders on one side, the runtime's real parsers (the
dispatcher's routing source, the adapters' env parsing) on the other, no copied constants."""
