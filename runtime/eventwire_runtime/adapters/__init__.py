"""Source adapters: each produces CloudEvents from one kind of upstream and sends them to K_SINK.

Run one with `eventwire-runtime adapter <kind>`; `main` lists the kinds, `env` the shared
environment contract, and each adapter module its own settings.
"""
