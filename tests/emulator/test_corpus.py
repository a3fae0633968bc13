"""The synthetic corpus: deterministic, realistic, lazily generated; and the user's documents."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lxml import etree

from satdescarga import generated as g
from satdescarga.emulator import Emulator
from satdescarga.emulator.corpus import Corpus
from satdescarga.emulator.documents import render
from satdescarga.emulator.metadata_rows import metadata_row
from satdescarga.emulator.model import Query
from satdescarga.vocabulary import DownloadType, ServiceFamily

from ..conftest import CONFORMANCE
from .conftest import FAST, SatCaller, make_fiel, metadata_rows

AS_OF = datetime(2025, 6, 30, 12, 0)
RFC = "EKU9003173C9"


def _query(**fields: object) -> Query:
    base: dict[str, object] = {
        "family": ServiceFamily.CFDI,
        "operation": "SolicitaDescargaEmitidos",
        "rfc": RFC,
        "request_type": "Metadata",
        "direction": DownloadType.ISSUED,
        "start": datetime(2021, 6, 1),
        "end": datetime(2023, 6, 30),
        "status": "Todos",
    }
    return Query(**{**base, **fields})  # type: ignore[arg-type]


def _documents(corpus: Corpus, query: Query) -> list:  # type: ignore[type-arg]
    matches = corpus.find(query, AS_OF, 10**6)
    return list(corpus.documents(matches, 0, matches.count, AS_OF))


def test_same_seed_rfc_and_period_give_the_same_documents() -> None:
    query = _query(start=datetime(2024, 1, 1), end=datetime(2024, 1, 15))
    first = [metadata_row(d) for d in _documents(Corpus(seed=7, daily=20), query)]
    again = [metadata_row(d) for d in _documents(Corpus(seed=7, daily=20), query)]
    other_seed = [metadata_row(d) for d in _documents(Corpus(seed=8, daily=20), query)]
    assert first == again and len(first) > 250
    assert not {r[:36] for r in first} & {r[:36] for r in other_seed}
    other_rfc = _documents(
        Corpus(seed=7, daily=20), _query(rfc="XIA190128J61", start=query.start, end=query.end)
    )
    assert not {r[:36] for r in first} & {d.uuid for d in other_rfc}
    # a sub-period yields exactly the same documents as the matching slice of the big one
    narrow = _query(start=datetime(2024, 1, 5, 8), end=datetime(2024, 1, 6, 17, 30))
    inside = [r for r in first if "2024-01-05 08:00:00" <= r.split("~")[6] <= "2024-01-06 17:30:00"]
    assert [metadata_row(d) for d in _documents(Corpus(seed=7, daily=20), narrow)] == inside


def test_uuids_lead_back_to_their_documents() -> None:
    corpus = Corpus(seed=3, daily=20)
    docs = _documents(corpus, _query(start=datetime(2025, 5, 1), end=datetime(2025, 5, 3)))
    for doc in docs:
        found = corpus.lookup(ServiceFamily.CFDI, RFC, doc.uuid.lower(), AS_OF)
        assert found is not None and metadata_row(found) == metadata_row(doc)
    assert corpus.lookup(ServiceFamily.CFDI, "XIA190128J61", docs[0].uuid, AS_OF) is None
    assert corpus.lookup(ServiceFamily.RETENCIONES, RFC, docs[0].uuid, AS_OF) is None


def test_documents_look_like_sat_documents() -> None:
    corpus = Corpus(seed=0, daily=20)
    docs = _documents(corpus, _query())
    kinds = {d.kind for d in docs}
    assert kinds == {"I", "E", "T", "N", "P"}
    assert {d.version for d in docs} == {"3.3", "4.0"}
    assert {d.complement for d in docs} >= {"nomina12", "pagos10", "pagos20", "implocal", None}
    cancelled = [d for d in docs if d.cancelled]
    assert 0.04 < len(cancelled) / len(docs) < 0.14
    assert all(d.cancelled_at is not None and d.cancelled_at > d.issued_at for d in cancelled)
    third = [d for d in docs if d.third_party_rfc]
    assert third and all(d.version == "4.0" for d in third)
    names = {d.receiver_name for d in docs}
    assert any("\n" in n for n in names)  # a line break (SAT copies it raw into metadata)
    assert any('"' in n for n in names) and any("," in n for n in names)
    assert any(c in "".join(names) for c in "ÁÉÍÓÚÑÜ")
    for doc in docs[:400]:
        root = etree.fromstring(render(doc))
        version = "4" if doc.version == "4.0" else "3"
        assert root.tag == f"{{http://www.sat.gob.mx/cfd/{version}}}Comprobante"
        tfd = root.find(
            "{*}Complemento/{http://www.sat.gob.mx/TimbreFiscalDigital}TimbreFiscalDigital"
        )
        assert tfd is not None and tfd.get("UUID") == doc.uuid
        receptor = root.find("{*}Receptor")
        assert receptor is not None and receptor.get("Nombre") == doc.receiver_name
        assert root.get("TipoDeComprobante") == doc.kind
        if doc.third_party_rfc:
            third_party = root.find(".//{*}ACuentaTerceros")
            assert third_party is not None
            assert third_party.get("RfcACuentaTerceros") == doc.third_party_rfc
    metadata = [metadata_row(d) for d in docs]
    assert all(
        len(row.split("~")) == 12 for row in metadata if "~" not in "".join(n for n in names)
    )


def test_retenciones_documents() -> None:
    corpus = Corpus(seed=0, daily=10)
    docs = _documents(
        corpus, _query(family=ServiceFamily.RETENCIONES, direction=DownloadType.RECEIVED)
    )
    assert {d.version for d in docs} == {"2.0"} and all(d.receiver_rfc == RFC for d in docs)
    assert {d.complement for d in docs} >= {"intereses", "dividendos", None}
    root = etree.fromstring(render(docs[0]))
    assert root.tag == "{http://www.sat.gob.mx/esquemas/retencionpago/2}Retenciones"
    assert root.find("{*}Complemento/{*}TimbreFiscalDigital").get("UUID") == docs[0].uuid  # type: ignore[union-attr]


def test_documents_do_not_exist_before_they_are_issued() -> None:
    corpus = Corpus(seed=0, daily=24)
    query = _query(start=AS_OF - timedelta(days=1), end=AS_OF + timedelta(days=1))
    assert all(d.issued_at <= AS_OF for d in _documents(corpus, query))
    assert 20 <= len(_documents(corpus, query)) <= 26


def test_counting_stops_past_the_cap() -> None:
    corpus = Corpus(seed=0, daily=100)
    matches = corpus.find(_query(), AS_OF, cap=50)
    assert matches.exceeded and matches.count == 51


def test_users_own_documents(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(CONFORMANCE / "zip" / "cfdi.xml", folder / "mine.xml")
    (folder / "junk.xml").write_text("<not-a-cfdi/>")
    root = etree.parse(str(folder / "mine.xml")).getroot()
    issuer = root.find("{*}Emisor").get("rfc")  # type: ignore[union-attr]  # a CFDI 3.2
    issued = datetime.fromisoformat(root.get("fecha", ""))
    uuid = root.find(".//{*}TimbreFiscalDigital").get("UUID")  # type: ignore[union-attr]
    start = issued + timedelta(days=30)  # SAT's clock shortly after the document was issued
    options = {"documents": folder, "synthetic": False, "start": start, **FAST}
    with Emulator(**options) as sat:  # type: ignore[arg-type]
        fiel = make_fiel(issuer, not_before=datetime(2014, 1, 1, tzinfo=UTC))  # type: ignore[arg-type]
        caller = SatCaller(sat, fiel)
        window = {
            "fecha_inicial": issued - timedelta(days=1),
            "fecha_final": issued + timedelta(days=1),
        }
        result = caller.emitidos(estado_comprobante=g.EstadoComprobante.TODOS, **window)
        (archive,) = caller.download_all(result.id_solicitud)  # type: ignore[arg-type]
        rows = metadata_rows(archive)
        assert [r["Uuid"] for r in rows] == [uuid.upper()]  # type: ignore[union-attr]
        xml = caller.emitidos(tipo_solicitud=g.TipoDescargaMasivaTerceros.CFDI, **window)
        (package,) = caller.download_all(xml.id_solicitud)  # type: ignore[arg-type]
        assert package.read(package.namelist()[0]) == (folder / "mine.xml").read_bytes()
        folio = caller.folio(uuid)  # type: ignore[arg-type]
        assert caller.verifica(folio.id_solicitud).numero_cfdis == 1  # type: ignore[arg-type]
