"""The Larder platform server: ``larder server init|start``.

Layers: ``api`` (thin FastAPI routers) -> ``services`` (domain logic, no HTTP) -> ``db``
(SQLAlchemy models, Alembic migrations); ``security`` holds keys, the CA and authorization.
"""
