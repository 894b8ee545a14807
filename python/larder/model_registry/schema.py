"""Model schemas (hsml style): what a model takes in and gives out, inferred from example data.

A :class:`Schema` is either *columnar* (column names and types, from pandas, polars or pyarrow
data, or a numpy structured array) or a *tensor* schema (dtype and shape, from a numpy array or
anything with ``dtype`` and ``shape``, such as a torch or TensorFlow tensor). A :class:`ModelSchema`
pairs an input and an output schema and is stored with the model version as JSON.

No data library is imported unless the data passed in comes from it.

Example:
    >>> import numpy as np
    >>> from larder.model_registry import ModelSchema, Schema
    >>> Schema(np.zeros((5, 3), dtype="float32")).to_dict()
    {'tensor_schema': [{'type': 'float32', 'shape': [5, 3]}]}
    >>> ModelSchema(input_schema=Schema(np.zeros((5, 3))), output_schema=None).to_dict()["input_schema"]
    {'tensor_schema': [{'type': 'float64', 'shape': [5, 3]}]}
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import json
import math
from typing import Any

from larder.errors import InvalidArgumentError

__all__ = ["ModelSchema", "Schema", "input_example_to_json"]


def _root_module(obj: Any) -> str:
    return type(obj).__module__.split(".", 1)[0]


def _is(obj: Any, module: str, *names: str) -> bool:
    return _root_module(obj) == module and type(obj).__name__ in names


class Schema:
    """A columnar or tensor schema, inferred from data or given explicitly.

    Args:
        object (Any): what to infer the schema from:

            - a pandas ``DataFrame`` or ``Series``, a polars ``DataFrame`` or ``Series``, a pyarrow
              ``Table``, ``RecordBatch`` or ``Schema``, or a numpy structured array: a columnar
              schema, one ``{"name", "type"}`` entry per column (types as the library names them,
              e.g. ``"int64"``, ``"float64"``, ``"str"``, ``"timestamp[us]"``);
            - a numpy ``ndarray`` (or a torch/TensorFlow tensor: anything with ``dtype`` and
              ``shape``): a tensor schema, one ``{"type", "shape"}`` entry (``shape`` a list of
              ints, the example's own shape, batch dimension included);
            - a list of dicts already in either form (``[{"name": "age", "type": "int64"}]``).

    Attributes:
        columnar_schema (list[dict] | None): the columns, or None for a tensor schema.
        tensor_schema (list[dict] | None): the tensors, or None for a columnar schema.

    Raises:
        larder.errors.InvalidArgumentError: for data of another kind (the message lists the kinds).

    Example:
        >>> import pandas as pd
        >>> Schema(pd.DataFrame({"age": [31, 42], "city": ["a", "b"]})).columnar_schema  # doctest: +SKIP
        [{'name': 'age', 'type': 'int64'}, {'name': 'city', 'type': 'str'}]
    """

    def __init__(self, object: Any) -> None:  # noqa: A002 - hsml's argument name
        self.columnar_schema: list[dict[str, Any]] | None = None
        self.tensor_schema: list[dict[str, Any]] | None = None
        columns = _columns(object)
        if columns is not None:
            self.columnar_schema = columns
            return
        tensors = _tensors(object)
        if tensors is not None:
            self.tensor_schema = tensors
            return
        raise InvalidArgumentError(
            f"Cannot infer a schema from {type(object).__module__}.{type(object).__name__}: pass a pandas, "
            "polars or pyarrow table (columnar schema), a numpy array or tensor (tensor schema), or a list "
            "of {'name', 'type'} / {'type', 'shape'} dicts.",
            details={"type": f"{type(object).__module__}.{type(object).__name__}"},
        )

    def to_dict(self) -> dict[str, Any]:
        """The schema as a JSON-ready dict.

        Returns:
            dict: ``{"columnar_schema": [{"name", "type"}, ...]}`` or
            ``{"tensor_schema": [{"type", "shape"}]}``.

        Example:
            >>> Schema([{"name": "age", "type": "int64"}]).to_dict()
            {'columnar_schema': [{'name': 'age', 'type': 'int64'}]}
        """
        if self.columnar_schema is not None:
            return {"columnar_schema": [dict(c) for c in self.columnar_schema]}
        return {"tensor_schema": [dict(t) for t in self.tensor_schema or []]}

    def to_json(self) -> str:
        """:meth:`to_dict` as a JSON string.

        Returns:
            str: the JSON text.

        Example:
            >>> Schema([{"type": "float32", "shape": [2, 3]}]).to_json()
            '{"tensor_schema": [{"type": "float32", "shape": [2, 3]}]}'
        """
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        """Rebuild a schema from :meth:`to_dict`'s output.

        Args:
            data (dict): ``{"columnar_schema": [...]}`` or ``{"tensor_schema": [...]}``.

        Returns:
            Schema: the schema.

        Raises:
            larder.errors.InvalidArgumentError: when ``data`` has neither key.

        Example:
            >>> Schema.from_dict({"columnar_schema": [{"name": "age", "type": "int64"}]})
            Schema(columns=['age'])
        """
        entries = data.get("columnar_schema") if isinstance(data, dict) else None
        if entries is None and isinstance(data, dict):
            entries = data.get("tensor_schema")
        if not isinstance(entries, list):
            raise InvalidArgumentError("A schema dict has a 'columnar_schema' or a 'tensor_schema' list.")
        return cls(entries)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        if self.columnar_schema is not None:
            return f"Schema(columns={[c['name'] for c in self.columnar_schema]})"
        return f"Schema(tensors={self.tensor_schema})"


class ModelSchema:
    """The input and output schema of a model (either may be None).

    Args:
        input_schema (Schema | None): what the model takes (e.g. ``Schema(X_train)``).
        output_schema (Schema | None): what it returns (e.g. ``Schema(y_train)``).

    Raises:
        larder.errors.InvalidArgumentError: when a schema is not a :class:`Schema`.

    Example:
        >>> import numpy as np
        >>> ms = ModelSchema(Schema(np.zeros((2, 4))), Schema(np.zeros(2, dtype="int64")))
        >>> ms.to_dict()["output_schema"]
        {'tensor_schema': [{'type': 'int64', 'shape': [2]}]}
    """

    def __init__(self, input_schema: Schema | None = None, output_schema: Schema | None = None) -> None:
        for what, s in (("input_schema", input_schema), ("output_schema", output_schema)):
            if s is not None and not isinstance(s, Schema):
                raise InvalidArgumentError(
                    f"{what} must be a larder Schema (e.g. Schema(X_train)), not {type(s).__name__}.",
                    details={"field": what},
                )
        self.input_schema = input_schema
        self.output_schema = output_schema

    def to_dict(self) -> dict[str, Any]:
        """The model schema as a JSON-ready dict (as stored with a model version).

        Returns:
            dict: ``{"input_schema": {...} | None, "output_schema": {...} | None}``.

        Example:
            >>> ModelSchema(Schema([{"name": "age", "type": "int64"}])).to_dict()
            {'input_schema': {'columnar_schema': [{'name': 'age', 'type': 'int64'}]}, 'output_schema': None}
        """
        return {
            "input_schema": None if self.input_schema is None else self.input_schema.to_dict(),
            "output_schema": None if self.output_schema is None else self.output_schema.to_dict(),
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as a JSON string.

        Returns:
            str: the JSON text.

        Example:
            >>> ModelSchema().to_json()
            '{"input_schema": null, "output_schema": null}'
        """
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSchema:
        """Rebuild a model schema from :meth:`to_dict`'s output (as stored with a model version).

        Args:
            data (dict): ``{"input_schema": ..., "output_schema": ...}``, e.g. ``model.model_schema``.

        Returns:
            ModelSchema: the model schema.

        Raises:
            larder.errors.InvalidArgumentError: when a part is not a schema dict.

        Example:
            >>> ms = ModelSchema.from_dict({"input_schema": {"tensor_schema": [{"type": "float32", "shape": [1, 4]}]},
            ...                             "output_schema": None})
            >>> ms.input_schema
            Schema(tensors=[{'type': 'float32', 'shape': [1, 4]}])
        """
        i, o = data.get("input_schema"), data.get("output_schema")
        return cls(None if i is None else Schema.from_dict(i), None if o is None else Schema.from_dict(o))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModelSchema) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"ModelSchema(input_schema={self.input_schema!r}, output_schema={self.output_schema!r})"


# --- inference -----------------------------------------------------------------------------------------


def _columns(obj: Any) -> list[dict[str, Any]] | None:
    if isinstance(obj, list) and obj and all(isinstance(e, dict) for e in obj):
        if all("name" in e and "type" in e and "shape" not in e for e in obj):
            return [{"name": str(e["name"]), "type": str(e["type"])} for e in obj]
        return None
    if _is(obj, "pandas", "DataFrame"):
        return [{"name": str(c), "type": str(t)} for c, t in obj.dtypes.items()]
    if _is(obj, "pandas", "Series"):
        return [{"name": str(obj.name if obj.name is not None else 0), "type": str(obj.dtype)}]
    if _is(obj, "polars", "DataFrame", "LazyFrame"):
        schema = obj.collect_schema() if hasattr(obj, "collect_schema") else obj.schema
        return [{"name": str(c), "type": str(t)} for c, t in schema.items()]
    if _is(obj, "polars", "Series"):
        return [{"name": str(obj.name), "type": str(obj.dtype)}]
    if _is(obj, "pyarrow", "Table", "RecordBatch", "Schema"):
        schema = obj if type(obj).__name__ == "Schema" else obj.schema
        return [{"name": f.name, "type": str(f.type)} for f in schema]
    if _is(obj, "numpy", "ndarray") and obj.dtype.names:
        return [{"name": n, "type": str(obj.dtype.fields[n][0])} for n in obj.dtype.names]
    return None


def _tensors(obj: Any) -> list[dict[str, Any]] | None:
    if isinstance(obj, list) and obj and all(isinstance(e, dict) for e in obj):
        if all("type" in e and "shape" in e for e in obj):
            out = []
            for e in obj:
                entry: dict[str, Any] = {"type": str(e["type"]), "shape": [int(d) for d in e["shape"]]}
                if "name" in e:
                    entry["name"] = str(e["name"])
                out.append(entry)
            return out
        return None
    dtype, shape = getattr(obj, "dtype", None), getattr(obj, "shape", None)
    if dtype is None or shape is None or isinstance(obj, (str, bytes)):
        return None
    try:
        dims = [int(d) if d is not None else -1 for d in tuple(shape)]
    except TypeError:
        return None
    name = getattr(dtype, "name", None)
    return [{"type": str(name if isinstance(name, str) else dtype), "shape": dims}]


# --- input examples ------------------------------------------------------------------------------------


def input_example_to_json(example: Any) -> Any:
    """Turn an input example into plain JSON values.

    - pandas/polars/pyarrow tables become ``{"columns": [...], "data": [[row], ...]}`` (pandas'
      ``split`` orientation, as MLflow stores examples); series and numpy arrays become (nested) lists;
    - dicts, lists, tuples, numbers, strings, booleans and None stay as they are; NaN and infinities
      become None; dates and times become ISO 8601 strings; ``Decimal`` becomes a float.

    Args:
        example (Any): a few rows of what the model takes, e.g. ``X_train[:5]``.

    Returns:
        Any: a value ``json.dumps`` accepts.

    Raises:
        larder.errors.InvalidArgumentError: for values of another type (named in the message).

    Example:
        >>> import numpy as np
        >>> input_example_to_json(np.array([[1.0, float("nan")]]))
        [[1.0, None]]
    """
    if _is(example, "pandas", "DataFrame"):
        split = json.loads(example.to_json(orient="split", index=False, date_format="iso"))
        return {"columns": [str(c) for c in split["columns"]], "data": split["data"]}
    if _is(example, "pandas", "Series"):
        return json.loads(example.to_json(orient="values", date_format="iso"))
    if _is(example, "polars", "DataFrame"):
        return {"columns": list(example.columns), "data": _plain([list(r) for r in example.rows()])}
    if _is(example, "polars", "Series"):
        return _plain(example.to_list())
    if _is(example, "pyarrow", "Table", "RecordBatch"):
        names = list(example.schema.names)
        rows = example.to_pylist()
        return {"columns": names, "data": _plain([[r[n] for n in names] for r in rows])}
    if _is(example, "numpy", "ndarray"):
        return _plain(example.tolist())
    return _plain(example)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return _plain(float(value))
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if _root_module(value) == "numpy" and hasattr(value, "item"):
        return _plain(value.item())
    if _root_module(value) == "numpy" and hasattr(value, "tolist"):
        return _plain(value.tolist())
    raise InvalidArgumentError(
        f"Cannot store a value of type {type(value).__module__}.{type(value).__name__} in an input example; "
        "use pandas/polars/pyarrow data, numpy arrays, or plain lists and dicts of numbers and strings.",
        details={"type": f"{type(value).__module__}.{type(value).__name__}"},
    )
