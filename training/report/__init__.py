"""The model report: ``report.html`` plus ``figures/*.png`` in a model directory.

Written by training (inside the temporary directory, before the atomic rename) and by
``python -m training report MODEL_DIR``, which rewrites only the report files.
"""

from shopper_segments.training.report.build import (
    REPORT_FILES,
    REPORT_HTML,
    REPORT_JSON,
    ReportOptions,
    write_report,
)

__all__ = ["REPORT_FILES", "REPORT_HTML", "REPORT_JSON", "ReportOptions", "write_report"]
