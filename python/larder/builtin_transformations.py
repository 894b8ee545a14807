"""The built-in transformation functions (hsfs's ``hsfs.builtin_transformations`` and
``hopsworks.hsfs.builtin_transformations``): bind one to a feature and attach it to a feature view.

Each is fitted on the training split of the view's training data (see
:mod:`larder.feature_store.transformation_functions`) and drops its input feature from the output:

- ``min_max_scaler``: ``(x - min) / (max - min)``, a float.
- ``standard_scaler``: ``(x - mean) / stddev`` (population standard deviation), a float.
- ``robust_scaler``: ``(x - median) / (p75 - p25)``, a float.
- ``label_encoder``: the position of the value among the sorted distinct training values, an
  int; -1 for a value not seen in training, null for null.
- ``one_hot_encoder``: one bool column per training category (sorted), named
  ``one_hot_encoder_<feature>_<i>``; all False for a value not seen in training.

A zero scale (a constant training column) is taken as 1, as scikit-learn's scalers do; nulls stay
null.

Example:
    >>> from larder.builtin_transformations import label_encoder, min_max_scaler
    >>> [min_max_scaler("amount"), label_encoder("category")]
    [min_max_scaler('amount'), label_encoder('category')]
"""

from __future__ import annotations

from larder.feature_store.transformation_functions import builtin

min_max_scaler = builtin("min_max_scaler")
standard_scaler = builtin("standard_scaler")
robust_scaler = builtin("robust_scaler")
label_encoder = builtin("label_encoder")
one_hot_encoder = builtin("one_hot_encoder")

__all__ = ["label_encoder", "min_max_scaler", "one_hot_encoder", "robust_scaler", "standard_scaler"]
