"""eventwire runtime: the controller, the channel dispatcher and the source adapters."""
