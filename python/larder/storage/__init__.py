"""Object-store namespaces, datasets and pathlib-like data access with vended credentials.

- :class:`~larder.storage.namespace.Namespace`: a bucket (or top folder) on an object store.
- :class:`~larder.storage.namespace.Dataset`: a named prefix in a namespace, with permissions.
- :class:`~larder.storage.ref.DatasetRef`: a path inside a dataset, used like ``pathlib.Path``.
"""

from larder.storage.namespace import Dataset, Namespace, Permission, Storage
from larder.storage.ref import DatasetRef

__all__ = ["Dataset", "DatasetRef", "Namespace", "Permission", "Storage"]
