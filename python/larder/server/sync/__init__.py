"""Sync between linked servers: policies, the outbox and applying changes (service), the worker, reconciliation."""
