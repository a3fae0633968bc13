"""The deterministic synthetic corpus: documents derived from (seed, family, RFC, direction, i).

Nothing is stored: document i of a stream is issued at EPOCH + i x spacing (+ a seeded jitter
smaller than the spacing), so a period maps to a range of indices in O(1), and every attribute
comes from 32 seeded bytes. Counting and filtering read only those bytes; names, amounts and
XML are produced when a package is built. UUIDs are an invertible keyed encoding of the index,
so a UUID (SolicitaDescargaFolio) leads back to its document without any search.
"""

from __future__ import annotations

import hashlib
import math
import threading
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from satdescarga.emulator import catalog
from satdescarga.emulator.loader import LoadedDocuments
from satdescarga.emulator.model import Document, Query
from satdescarga.vocabulary import DownloadType, ServiceFamily

EPOCH = datetime(2015, 1, 1)
"""Index 0 of every stream (Mexico City time). Documents dated after `as_of` do not exist yet."""
CFDI40_FROM = datetime(2022, 1, 1)
CFDI33_UNTIL = datetime(2023, 4, 1)
CENT = Decimal("0.01")
_MASK74 = (1 << 74) - 1


def _b2(data: bytes, key: bytes, size: int) -> bytes:
    return hashlib.blake2b(data, key=key, digest_size=size).digest()


def _u(b: bytes, start: int, length: int) -> int:
    return int.from_bytes(b[start : start + length], "big")


def money(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def tax(base: Decimal, rate: str) -> Decimal:
    return (base * Decimal(rate)).quantize(CENT, ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Traits:
    """What the filters look at, derived from the seeded bytes alone (fast path)."""

    issued_at: datetime
    kind: str
    version: str
    cancelled_at: datetime | None
    complement: str | None
    counterpart: int
    third_party: int | None


class Stream:
    """The documents one RFC issued (or received) in one family."""

    def __init__(
        self,
        seed: int,
        family: ServiceFamily,
        rfc: str,
        direction: DownloadType,
        daily: int,
        lag_hours: float = 0.0,
        last: datetime | None = None,
    ) -> None:
        self.lag_hours = lag_hours
        self.last = last
        self.family = family
        self.rfc = rfc
        self.direction = direction
        self.spacing = 86_400 / daily
        base = f"satdescarga-emulator|{seed}|{family.value}|{rfc}|{direction.value}".encode()
        self._key = hashlib.blake2b(base, digest_size=32).digest()
        self._uuid_key = _b2(b"uuid", self._key, 32)
        self._pad_key = _b2(b"pad", self._key, 32)

    # -- time <-> index ---------------------------------------------------------------------
    def draw(self, index: int) -> bytes:
        return _b2(index.to_bytes(8, "big"), self._key, 32)

    def issued_at(self, index: int, draw: bytes) -> datetime:
        jitter = _u(draw, 8, 4) / 2**32
        return EPOCH + timedelta(seconds=math.floor((index + jitter) * self.spacing))

    def visible_at(self, issued: datetime, draw: bytes) -> datetime:
        """When SAT shows the document: its date plus its certification lag (PACs deliver up
        to 72 h late), drawn from its own bytes."""
        if not self.lag_hours:
            return issued
        return issued + timedelta(seconds=round(_u(draw, 20, 4) / 2**32 * self.lag_hours * 3600))

    def exists(self, issued: datetime, draw: bytes, as_of: datetime) -> bool:
        """Whether SAT shows the document at `as_of` (and the corpus had not stopped)."""
        if self.last is not None and issued > self.last:
            return False
        return self.visible_at(issued, draw) <= as_of

    def index_range(self, start: datetime | None, end: datetime, as_of: datetime) -> range:
        """Indices that may hold documents dated within [start, min(end, as_of)]."""
        last = min(end, as_of, self.last or end)
        first_second = ((start or EPOCH) - EPOCH).total_seconds()
        last_second = (last - EPOCH).total_seconds()
        if last_second < 0 or last_second < first_second:
            return range(0)
        low = max(0, math.floor(first_second / self.spacing) - 1)
        high = math.floor(last_second / self.spacing) + 1
        return range(low, high + 1)

    # -- UUID <-> index -----------------------------------------------------------------------
    def uuid(self, index: int) -> str:
        payload = index.to_bytes(6, "big")
        mac = int.from_bytes(_b2(payload, self._uuid_key, 10), "big") >> 6
        pad = int.from_bytes(_b2(mac.to_bytes(10, "big"), self._pad_key, 6), "big")
        value = ((index ^ pad) << 74) | mac
        digits = f"{value >> 2:030x}"
        variant = "89ab"[value & 3]
        text = digits[:12] + "4" + digits[12:15] + variant + digits[15:]
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}".upper()

    def index_of(self, uuid: str) -> int | None:
        text = uuid.replace("-", "").lower()
        if len(text) != 32 or text[12] != "4" or text[16] not in "89ab":
            return None
        try:
            value = (int(text[:12] + text[13:16] + text[17:], 16) << 2) | "89ab".index(text[16])
        except ValueError:
            return None
        mac = value & _MASK74
        pad = int.from_bytes(_b2(mac.to_bytes(10, "big"), self._pad_key, 6), "big")
        index = (value >> 74) ^ pad
        expected = int.from_bytes(_b2(index.to_bytes(6, "big"), self._uuid_key, 10), "big") >> 6
        return index if expected == mac else None

    # -- attributes ---------------------------------------------------------------------------
    def traits(self, index: int, draw: bytes, as_of: datetime) -> Traits:
        issued = self.issued_at(index, draw)
        cancelled_at = None
        if draw[4] < 20:  # about 8% are cancelled, 1 to 30 days after issue
            moment = issued + timedelta(days=1 + draw[17] % 30, minutes=draw[18])
            cancelled_at = moment if moment <= as_of else None
        if self.family is ServiceFamily.RETENCIONES:
            options = catalog.RETENTION_COMPLEMENTS
            counterpart = draw[3] % len(catalog.COUNTERPARTS)
            drawn = options[draw[7] % len(options)]
            return Traits(issued, "", "2.0", cancelled_at, drawn, counterpart, None)
        if issued < CFDI40_FROM:
            version = "3.3"
        elif issued < CFDI33_UNTIL:
            version = "4.0" if draw[2] < 128 else "3.3"
        else:
            version = "4.0"
        roll = _u(draw, 0, 2) % 100
        kind = next(
            k for top, k in ((55, "I"), (65, "E"), (70, "T"), (85, "N"), (100, "P")) if roll < top
        )
        complement: str | None = None
        if kind == "N":
            complement = "nomina12"
        elif kind == "P":
            complement = "pagos20" if version == "4.0" else "pagos10"
        elif kind == "I" and draw[7] < 20:
            complement = "implocal"
        if kind == "N" and self.direction is DownloadType.ISSUED:
            counterpart = draw[3] % len(catalog.EMPLOYEES)
        else:
            counterpart = draw[3] % len(catalog.COUNTERPARTS)
        third_party = None
        if version == "4.0" and kind in "IE" and draw[5] < 26:  # about 10%
            third_party = draw[6] % len(catalog.THIRD_PARTIES)
        return Traits(issued, kind, version, cancelled_at, complement, counterpart, third_party)

    def counterpart(self, traits: Traits) -> tuple[str, str]:
        if traits.kind == "N" and self.direction is DownloadType.ISSUED:
            rfc, name, _ = catalog.EMPLOYEES[traits.counterpart]
            return rfc, name
        return catalog.COUNTERPARTS[traits.counterpart]

    def matches(self, query: Query, traits: Traits) -> bool:
        if query.start is not None and traits.issued_at < query.start:
            return False
        if query.end is not None and traits.issued_at > query.end:
            return False
        if query.counterparts and self.counterpart(traits)[0] not in query.counterparts:
            return False
        third = None if traits.third_party is None else catalog.THIRD_PARTIES[traits.third_party][0]
        return query.matches_attributes(
            traits.kind, traits.cancelled_at is not None, traits.complement, third, self.family
        )

    def document(self, index: int, owner_name: str, as_of: datetime) -> Document:
        draw = self.draw(index)
        traits = self.traits(index, draw, as_of)
        other_rfc, other_name = self.counterpart(traits)
        if self.direction is DownloadType.ISSUED:
            issuer, receiver = (self.rfc, owner_name), (other_rfc, other_name)
        else:
            issuer, receiver = (other_rfc, other_name), (self.rfc, owner_name)
        total, retained, subtotal = self._amounts(traits, draw)
        third = None if traits.third_party is None else catalog.THIRD_PARTIES[traits.third_party]
        return Document(
            family=self.family,
            uuid=self.uuid(index),
            version=traits.version,
            issuer_rfc=issuer[0],
            issuer_name=issuer[1],
            receiver_rfc=receiver[0],
            receiver_name=receiver[1],
            pac_rfc=catalog.PACS[draw[19] % len(catalog.PACS)],
            issued_at=traits.issued_at,
            certified_at=traits.issued_at + timedelta(seconds=5 + draw[16] % 300),
            kind=traits.kind,
            total=total,
            retained=retained,
            subtotal=subtotal,
            complement=traits.complement,
            cancelled_at=traits.cancelled_at,
            third_party_rfc=None if third is None else third[0],
            third_party_name=None if third is None else third[1],
            index=index,
            draw=draw,
        )

    def _amounts(self, traits: Traits, draw: bytes) -> tuple[Decimal, Decimal, Decimal]:
        """(total, retained, subtotal)."""
        amount = _u(draw, 12, 4)
        if self.family is ServiceFamily.RETENCIONES:
            operation = money(100_000 + amount % 49_900_000)
            return operation, (operation / 10).quantize(CENT, ROUND_HALF_UP), operation
        if traits.kind in ("P", "T"):
            return Decimal("0.00"), Decimal(0), Decimal("0.00")
        if traits.kind == "N":
            perceptions = money(500_000 + amount % 4_000_000)
            return perceptions - tax(perceptions, "0.18"), Decimal(0), perceptions
        subtotal = money(10_000 + amount % (4_990_000 if traits.kind == "I" else 490_000))
        local = tax(subtotal, "0.03") if traits.complement == "implocal" else Decimal(0)
        return subtotal + tax(subtotal, "0.16") + local, Decimal(0), subtotal


@dataclass(slots=True)
class MatchSet:
    """The documents one request yields: synthetic indices (in time order), then loaded ones."""

    stream: Stream | None = None
    indices: array[int] = field(default_factory=lambda: array("q"))
    loaded: list[Document] = field(default_factory=list)
    exceeded: bool = False
    """More documents than the cap (counting stopped there)."""

    @property
    def count(self) -> int:
        return len(self.indices) + len(self.loaded)


class Corpus:
    """Synthetic streams for every RFC (created on demand) plus the user's loaded documents."""

    def __init__(
        self,
        seed: int,
        daily: int,
        synthetic: bool = True,
        loaded: LoadedDocuments | None = None,
        lag_hours: float = 0.0,
        last: datetime | None = None,
    ) -> None:
        self.lag_hours, self.last = lag_hours, last
        self.seed = seed
        self.daily = daily
        self.synthetic = synthetic and daily > 0
        self.loaded = loaded or LoadedDocuments()
        self._streams: dict[tuple[ServiceFamily, str, DownloadType], Stream] = {}
        self._names: dict[str, str] = {}
        self._lock = threading.Lock()

    def remember_name(self, rfc: str, name: str) -> None:
        """The taxpayer's name (from the certificate it authenticated with)."""
        if name:
            with self._lock:
                self._names[rfc] = name

    def owner_name(self, rfc: str) -> str:
        with self._lock:
            return self._names.get(rfc) or self.loaded.name_of(rfc) or f"CONTRIBUYENTE {rfc}"

    def stream(self, family: ServiceFamily, rfc: str, direction: DownloadType) -> Stream:
        key = (family, rfc, direction)
        with self._lock:
            found = self._streams.get(key)
            if found is None:
                found = self._streams[key] = Stream(
                    self.seed, family, rfc, direction, self.daily, self.lag_hours, self.last
                )
            return found

    def find(self, query: Query, as_of: datetime, cap: int) -> MatchSet:
        """Every document matching `query` at `as_of`; stops counting past `cap`."""
        if query.folio is not None:
            return self._find_folio(query, as_of)
        assert query.direction is not None and query.end is not None
        result = MatchSet()
        if self.synthetic:
            stream = self.stream(query.family, query.rfc, query.direction)
            result.stream = stream
            indices = result.indices
            for index in stream.index_range(query.start, query.end, as_of):
                draw = stream.draw(index)
                traits = stream.traits(index, draw, as_of)
                if not stream.exists(traits.issued_at, draw, as_of):
                    continue
                if not stream.matches(query, traits):
                    continue
                indices.append(index)
                if len(indices) > cap:
                    result.exceeded = True
                    return result
        for doc in self.loaded.documents(query.family):
            if doc.issued_at <= as_of and query.matches(doc):
                result.loaded.append(doc)
                if result.count > cap:
                    result.exceeded = True
                    break
        return result

    def lookup(
        self, family: ServiceFamily, rfc: str, uuid: str, as_of: datetime
    ) -> Document | None:
        """The document `uuid` if `rfc` issued or received it (in `family`)."""
        loaded = self.loaded.by_uuid(family, uuid)
        if loaded is not None and rfc in (loaded.issuer_rfc, loaded.receiver_rfc):
            return loaded
        if not self.synthetic:
            return None
        for direction in DownloadType:
            stream = self.stream(family, rfc, direction)
            index = stream.index_of(uuid)
            if index is not None:
                doc = stream.document(index, self.owner_name(rfc), as_of)
                visible = stream.exists(doc.issued_at, stream.draw(index), as_of)
                return doc if visible else None
        return None

    def _find_folio(self, query: Query, as_of: datetime) -> MatchSet:
        assert query.folio is not None
        doc = self.lookup(query.family, query.rfc, query.folio, as_of)
        result = MatchSet()
        if doc is not None and not (query.is_xml and doc.cancelled):
            result.loaded.append(doc)
        return result

    def documents(
        self, matches: MatchSet, start: int, stop: int, as_of: datetime
    ) -> Iterator[Document]:
        """Documents at positions [start, stop) of `matches`, generated one by one."""
        synthetic = len(matches.indices)
        if matches.stream is not None and start < synthetic:
            owner = self.owner_name(matches.stream.rfc)
            for position in range(start, min(stop, synthetic)):
                yield matches.stream.document(matches.indices[position], owner, as_of)
        for position in range(max(start, synthetic), stop):
            yield matches.loaded[position - synthetic]
