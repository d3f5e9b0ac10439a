"""The built-in evaluation metrics, one file each (registered lazily in ``prefzoo.eval.metric.METRICS``)."""
