"""Transformation functions on the spark engine, with the python engine's code so that the results
are the same:

- statistics: the training split's needed columns are collected to the driver as Arrow (as
  ``write_training_data`` collects the rows it writes) and fitted by ``larder.engine.python.transform``;
- applying: ``DataFrame.mapInArrow`` runs the same ``transform.apply`` on each Arrow batch in the
  executors' Python workers (custom udfs are rebuilt there from their stored source), and the
  batches are cast to the output schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from larder.transform_plan import TransformPlan

_SPARK_TYPES = {
    "float": "double",
    "int": "bigint",
    "bool": "boolean",
    "str": "string",
    "bytes": "binary",
    "datetime": "timestamp",
    "timestamp": "timestamp",
    "date": "date",
}


def fit(frame: Any, needed: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """The statistics ``needed`` of a Spark frame's columns (see ``larder.engine.python.transform.fit``)."""
    from larder.engine.python import transform
    from larder.engine.spark._frames import quote, to_arrow

    if not needed:
        return {}
    return transform.fit(to_arrow(frame.select(*[quote(c) for c in needed])), needed)


def apply(frame: Any, plan: TransformPlan) -> Any:
    """``frame`` transformed by ``plan`` (the python engine's layout and values)."""
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import to_arrow_schema

    from larder.engine.spark._frames import quote

    by_name = {f.name: f for f in frame.schema.fields}
    fields = [by_name[c] for c in plan.kept]
    for step in plan.steps:
        types = step.types if len(step.types) == len(step.outputs) else step.types[:1] * len(step.outputs)
        for name, t in zip(step.outputs, types, strict=True):
            fields.append(T.StructField(name, T._parse_datatype_string(_SPARK_TYPES.get(t, "string")), True))
    order = {f.name: f for f in fields}
    schema = T.StructType([order[c] for c in plan.columns])
    inputs = sorted({c for step in plan.steps for c in step.inputs} | set(plan.kept), key=list(by_name).index)
    target = to_arrow_schema(schema, timezone="UTC")

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        from larder.engine.python import transform

        for batch in batches:
            out = transform.apply(pa.Table.from_batches([batch]), plan)
            yield from out.cast(target).to_batches()

    return frame.select(*[quote(c) for c in inputs]).mapInArrow(run, schema)
