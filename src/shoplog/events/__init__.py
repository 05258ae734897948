"""The event log: reading and checking it, the synthetic shop, the engine and sessions."""
