"""The programme's statistics, live, for any jurisdiction and period (docs/statistics.md).

``compute(session, level=, period=, state=, county=, ori=, start=, end=)``
returns a :class:`Statistics` table computed in the database; ``FIGURES``
names and defines every figure; ``export`` writes CSV/JSON/Parquet and
``report`` the monthly report (HTML, PDF, charts).
"""

from securecomm.statistics.figures import FIGURES, GROUPS, Figure
from securecomm.statistics.query import LEVELS, PERIODS, Row, Statistics, StatisticsError, compute

__all__ = ["FIGURES", "GROUPS", "Figure", "LEVELS", "PERIODS", "Row", "Statistics", "StatisticsError", "compute"]
