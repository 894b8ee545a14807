"""Thin FastAPI routers under ``/api/v1``: parse, authorize via a dependency, call a service."""
