"""Reports read stored results and never solve.

* :mod:`.record`: the files of a run folder and :func:`~.record.load_run`;
* :mod:`.summary`: the plain-language summary at the top of a report;
* :mod:`.tables`, :mod:`.charts`, :mod:`.maps`: HTML tables, plotly charts and the map;
* :mod:`.html`: ``report.html``, self-contained (plotly.js inline, no network);
* :mod:`.compare`: ``compare.html``, scenarios side by side.
"""

from optiserv.reports.compare import write_comparison
from optiserv.reports.html import write_report
from optiserv.reports.record import RUN_FILES, RunRecord, load_run

__all__ = ["RUN_FILES", "RunRecord", "load_run", "write_comparison", "write_report"]
