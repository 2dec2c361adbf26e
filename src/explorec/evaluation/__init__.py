"""Offline evaluation: metrics, the full-ranking protocol, significance tests and reports.

``report`` (matplotlib) is not imported here; import ``explorec.evaluation.report`` when writing one.
"""

from explorec.evaluation.protocol import EvaluationResult, evaluate, evaluate_topk
from explorec.evaluation.significance import compare, paired_test

__all__ = ["EvaluationResult", "compare", "evaluate", "evaluate_topk", "paired_test"]
