"""The Spark engine: training (``segments fit --engine spark``) and bulk scoring at lakehouse scale.

Spark moves the lines and runs the global aggregations; every customer's lines are cleaned
and featurized by the same Python code as the local engine (:mod:`segments_core.rules`,
:func:`segments_core.features.feature_matrix` through :mod:`training.frames`), in Arrow
batches inside Spark's Python workers. Modules: :mod:`.session` (the SparkSession),
:mod:`.lines` (reading and canonical lines), :mod:`.partitions` (the per-partition code),
:mod:`.fit` (training), :mod:`.score` (bulk scoring and :func:`~.score.assign_udf`).
"""
