"""SAT's limits on how much one may ask and download: identical XML requests for life (5002),
requests per UUID per day (5011, reported by Verifica as EstadoSolicitud 5) and downloads per
package (5008). The duplicate-request rule (5005) depends on the life cycle, so it is in rules.

The counters are not locked here: the Service calls them under its own lock (and downloads
under the package's lock).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from satdescarga.codes import SatCode
from satdescarga.emulator.config import EmulatorConfig
from satdescarga.emulator.criteria import RuleError
from satdescarga.emulator.model import Query
from satdescarga.emulator.records import Package
from satdescarga.vocabulary import ServiceFamily


class Limits:
    """The counters behind SAT's limits, forgotten on reset."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.identical: Counter[Query] = Counter()
        self.folio_counts: Counter[tuple[ServiceFamily, str, str, str]] = Counter()

    def check_identical(self, query: Query) -> None:
        """Raise 5002 when `query` (XML, by dates) was already accepted as often as allowed."""
        if query.folio is not None or not query.is_xml:
            return
        if self.identical[query] >= self.config.identical_xml_limit:
            raise RuleError(SatCode.SOLICITUDES_AGOTADAS)

    def count(self, query: Query, as_of: datetime) -> bool:
        """Count an accepted request; True when it is over the per-folio daily limit (5011)."""
        if query.folio is not None:
            day = (query.family, query.rfc, query.folio, as_of.date().isoformat())
            self.folio_counts[day] += 1
            return self.folio_counts[day] > self.config.folio_daily_limit
        if query.is_xml:
            self.identical[query] += 1
        return False

    def downloads_exhausted(self, package: Package) -> bool:
        """Whether `package` was downloaded as often as allowed (5008)."""
        return package.downloads >= self.config.max_downloads
