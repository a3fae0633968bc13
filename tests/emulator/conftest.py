"""Helpers for the emulator tests: the test e.firma, generated certificates, and `SatCaller`,
which builds real requests (generated layer + our signing code), POSTs them over HTTP to a
running emulator and parses SAT's answers back into the generated types."""

from __future__ import annotations

import base64
import dataclasses
import io
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier
from lxml import etree

from satdescarga import generated as g
from satdescarga.binding import XmlObject, from_element, reply_from_envelope, to_element
from satdescarga.certificate import SatCertificate
from satdescarga.emulator import Emulator
from satdescarga.emulator.security.ca import sign_with_ca
from satdescarga.fiel import Fiel
from satdescarga.plugins.enveloped import sign_operation
from satdescarga.plugins.wssecurity import security_header
from satdescarga.xmlsafe import parse_xml

from ..conftest import TESTS

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
DES = "http://DescargaMasivaTerceros.sat.gob.mx"
AUTH = "http://DescargaMasivaTerceros.gob.mx"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
RFC = "EKU9003173C9"
PASSWORD = "12345678a"
FIEL_DIR = TESTS / "fixtures" / "sat-test-fiel"
CSD_DIR = TESTS / "fixtures" / "sat-test-csd"
UNIQUE_ID = ObjectIdentifier("2.5.4.45")
FAST = {"accept_delay": 0.0, "process_delay": 0.0}


@cache
def eku_fiel() -> Fiel:
    return Fiel.load(FIEL_DIR / "EKU9003173C9.cer", FIEL_DIR / "EKU9003173C9.key", PASSWORD)


@cache
def eku_csd() -> Fiel:
    return Fiel.load(CSD_DIR / "EKU9003173C9.cer", CSD_DIR / "EKU9003173C9.key", PASSWORD)


@cache
def _key(label: str) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_fiel(
    rfc: str,
    *,
    csd: bool = False,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    key_label: str | None = None,
    number: str = "30001000000500009999",
    self_signed: bool = False,
) -> Fiel:
    """A certificate with SAT's subject layout (x500UniqueIdentifier "RFC / CURP"; an OU for a
    CSD) and its key, issued by the emulator's test CA (or self-signed, which SAT refuses)."""
    key = _key(key_label or rfc)
    name = f"CONTRIBUYENTE DE PRUEBA {rfc}"
    attributes = [
        x509.NameAttribute(NameOID.COMMON_NAME, name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "MX"),
        x509.NameAttribute(UNIQUE_ID, f"{rfc} / VADA800927DJ3"),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, " / VADA800927HSRSRL05"),
    ]
    if csd:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "SUCURSAL 1"))
    subject = x509.Name(attributes)
    now = datetime.now(UTC)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,
        key_encipherment=False,
        data_encipherment=not csd,
        key_agreement=not csd,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(number.encode("ascii"), "big"))
        .not_valid_before(not_before or now - timedelta(days=30))
        .not_valid_after(not_after or now + timedelta(days=365))
        .add_extension(usage, critical=True)
    )
    if self_signed:
        certificate = builder.issuer_name(subject).sign(key, hashes.SHA256())
    else:
        certificate = sign_with_ca(builder)
    return Fiel(SatCertificate(certificate), key)


def other_key_fiel() -> Fiel:
    """EKU9003173C9's certificate paired with a key that is not its own (signing only)."""

    class Impostor(Fiel):
        def __init__(self) -> None:  # skip the key/certificate match check
            self.x509 = eku_fiel().x509
            imposter = make_fiel("XIA190128J61", key_label="impostor")
            self._key = imposter._key
            self._xmlsec_key = imposter._xmlsec_key

    return Impostor()


def envelope(body: etree._Element, header: etree._Element | None = None) -> bytes:
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"s": SOAP, "des": DES})
    head = etree.SubElement(root, f"{{{SOAP}}}Header")
    if header is not None:
        head.append(header)
    etree.SubElement(root, f"{{{SOAP}}}Body").append(body)
    return etree.tostring(root)


def autentica_envelope(fiel: Fiel, created: datetime | None = None) -> bytes:
    created = created or datetime.now(UTC)
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"s": SOAP, "u": WSU})
    header = etree.SubElement(root, f"{{{SOAP}}}Header")
    header.append(security_header(fiel, created, f"uuid-{uuid.uuid4()}-1", SOAP))
    body = etree.SubElement(root, f"{{{SOAP}}}Body")
    etree.SubElement(body, f"{{{AUTH}}}Autentica", nsmap={None: AUTH})  # type: ignore[dict-item]
    return etree.tostring(root)


def signed_body(obj: XmlObject, fiel: Fiel) -> etree._Element:
    element = to_element(obj, nsmap={"des": DES})
    sign_operation(element, fiel)
    return element


@dataclass
class Reply:
    status: int
    content: bytes
    root: etree._Element | None

    @property
    def body(self) -> etree._Element:
        assert self.root is not None, self.content[:300]
        return reply_from_envelope(self.root).body

    def header(self, tag: str) -> etree._Element | None:
        assert self.root is not None
        return reply_from_envelope(self.root).header(tag)

    @property
    def fault(self) -> tuple[str, str] | None:
        if self.root is None or self.body.tag != f"{{{SOAP}}}Fault":
            return None
        return (self.body.findtext("faultcode") or "").strip(), self.body.findtext(
            "faultstring"
        ) or ""


class SatCaller:
    """Talks to the emulator like a client would, one family at a time."""

    def __init__(self, sat: Emulator, fiel: Fiel | None = None, family: str = "cfdi") -> None:
        self.sat = sat
        self.fiel = fiel or eku_fiel()
        self.family = family
        self.session = requests.Session()
        self.token: str | None = None

    def url(self, service: str) -> str:
        return self.sat.url(service, self.family)

    def post(
        self,
        service: str,
        action: str,
        data: bytes,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent = {"Content-Type": 'text/xml; charset="utf-8"', "SOAPAction": action}
        if token is not None:
            sent["Authorization"] = f'WRAP access_token="{token}"'
        sent.update(headers or {})
        response = self.session.post(self.url(service), data=data, headers=sent, timeout=30)
        root = (
            parse_xml(response.content, huge_tree=True)
            if response.content.startswith(b"<s:")
            else None
        )
        return Reply(response.status_code, response.content, root)

    def autentica_raw(self, data: bytes) -> Reply:
        return self.post("autenticacion", g.AUTENTICA.soap_action, data)

    def autentica(self, fiel: Fiel | None = None) -> str:
        reply = self.autentica_raw(autentica_envelope(fiel or self.fiel))
        assert reply.status == 200, reply.content
        result = from_element(g.AutenticaResponse, reply.body).autentica_result
        assert result is not None
        self.token = result
        return result

    def send(
        self,
        operation: Any,
        obj: XmlObject,
        *,
        fiel: Fiel | None = None,
        token: str | None = None,
        tamper: Callable[[etree._Element], None] | None = None,
        before_signing: Callable[[etree._Element], None] | None = None,
    ) -> Reply:
        element = to_element(obj, nsmap={"des": DES})
        if before_signing is not None:
            before_signing(element)
        sign_operation(element, fiel or self.fiel)
        if tamper is not None:
            tamper(element)
        service = {
            "SolicitaDescargaService": "solicitud",
            "VerificaSolicitudDescargaService": "verificacion",
            "DescargaMasivaTercerosService": "descarga",
        }[operation.service]
        if token is None:
            token = self.token or self.autentica()
        return self.post(service, operation.soap_action, envelope(element), token=token)

    # -- typed shortcuts --------------------------------------------------------------------------
    def emitidos(self, **fields: Any) -> g.RespuestaSolicitudDescMasTercero:
        fields.setdefault("rfc_emisor", self.fiel.rfc)
        fields.setdefault("rfc_solicitante", self.fiel.rfc)
        fields.setdefault("tipo_solicitud", g.TipoDescargaMasivaTerceros.METADATA)
        obj = g.SolicitaDescargaEmitidos(
            solicitud=g.SolicitudDescargaMasivaTerceroEmitidos(**fields)
        )
        return self.solicita_result(self.send(g.SOLICITA_DESCARGA_EMITIDOS, obj))

    def recibidos(self, **fields: Any) -> g.RespuestaSolicitudDescMasTercero:
        fields.setdefault("rfc_receptor", self.fiel.rfc)
        fields.setdefault("rfc_solicitante", self.fiel.rfc)
        fields.setdefault("tipo_solicitud", g.TipoDescargaMasivaTerceros.METADATA)
        obj = g.SolicitaDescargaRecibidos(
            solicitud=g.SolicitudDescargaMasivaTerceroRecibidos(**fields)
        )
        return self.solicita_result(self.send(g.SOLICITA_DESCARGA_RECIBIDOS, obj))

    def folio(self, folio: str) -> g.RespuestaSolicitudDescMasTercero:
        obj = g.SolicitaDescargaFolio(
            solicitud=g.SolicitudDescargaMasivaTerceroFolio(
                folio=folio, rfc_solicitante=self.fiel.rfc
            )
        )
        return self.solicita_result(self.send(g.SOLICITA_DESCARGA_FOLIO, obj))

    @staticmethod
    def solicita_result(reply: Reply) -> g.RespuestaSolicitudDescMasTercero:
        assert reply.status == 200, reply.content
        response: Any = from_element(g.ELEMENTS[reply.body.tag], reply.body)
        result: g.RespuestaSolicitudDescMasTercero = getattr(
            response, dataclasses.fields(response)[0].name
        )
        return result

    def verifica(self, id_solicitud: str) -> g.RespuestaVerificaSolicitudDescMasTercero:
        obj = g.VerificaSolicitudDescarga(
            solicitud=g.VerificaSolicitudDescargaMasivaTercero(
                id_solicitud=id_solicitud, rfc_solicitante=self.fiel.rfc
            )
        )
        reply = self.send(g.VERIFICA_SOLICITUD_DESCARGA, obj)
        assert reply.status == 200, reply.content
        return from_element(
            g.VerificaSolicitudDescargaResponse, reply.body
        ).verifica_solicitud_descarga_result

    def descargar_reply(self, id_paquete: str) -> Reply:
        obj = g.PeticionDescargaMasivaTercerosEntrada(
            peticion_descarga=g.PeticionDescargaMasivaTerceros(
                id_paquete=id_paquete, rfc_solicitante=self.fiel.rfc
            )
        )
        return self.send(g.DESCARGAR, obj)

    def descargar(self, id_paquete: str) -> tuple[g.RespuestaDescargaMasivaTerceros, bytes | None]:
        reply = self.descargar_reply(id_paquete)
        assert reply.status == 200, reply.content
        header = reply.header(f"{{{DES}}}respuesta")
        assert header is not None
        respuesta = from_element(g.RespuestaDescargaMasivaTerceros, header)
        body = from_element(g.RespuestaDescargaMasivaTercerosSalida, reply.body)
        return respuesta, body.paquete

    def finished(self, id_solicitud: str) -> g.RespuestaVerificaSolicitudDescMasTercero:
        result = self.verifica(id_solicitud)
        assert result.estado_solicitud == 3, result
        return result

    def download_all(self, id_solicitud: str) -> list[zipfile.ZipFile]:
        result = self.finished(id_solicitud)
        archives = []
        for package in result.ids_paquetes:
            respuesta, paquete = self.descargar(package)
            assert respuesta.cod_estatus == "5000", respuesta
            assert paquete
            archives.append(zipfile.ZipFile(io.BytesIO(paquete)))
        return archives


def metadata_rows(archive: zipfile.ZipFile) -> list[dict[str, str]]:
    """The rows of the data file(s), keyed by header (CRLF records; bare LF stays in names)."""
    rows: list[dict[str, str]] = []
    for name in archive.namelist():
        if name.endswith(".txt") and not name.endswith("_tercero.txt"):
            lines = archive.read(name).decode("utf-8").split("\r\n")
            header = lines[0].split("~")
            rows += [dict(zip(header, line.split("~"), strict=True)) for line in lines[1:] if line]
    return rows


def third_party_rows(archive: zipfile.ZipFile) -> list[dict[str, str]]:
    name = next(n for n in archive.namelist() if n.endswith("_tercero.txt"))
    lines = archive.read(name).decode("utf-8").split("\r\n")
    header = lines[0].split("~")
    return [dict(zip(header, line.split("~"), strict=True)) for line in lines[1:] if line]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def sat() -> Iterator[Emulator]:
    with Emulator(**FAST) as emulator:  # type: ignore[arg-type]
        yield emulator


@pytest.fixture
def caller(sat: Emulator) -> SatCaller:
    return SatCaller(sat)


def sign_variant(
    operation: etree._Element,
    fiel: Fiel,
    *,
    c14n: str,
    transforms: tuple[str, ...],
    uri: str | None,
) -> None:
    """Sign `operation` (in place) the way other clients do: the declared canonicalization
    computed on the element where it stands (so in its envelope when it is in one)."""
    from satdescarga.emulator.security import canonicalize
    from satdescarga.plugins.xmldsig import SHA1, ds
    from satdescarga.vocabulary import DSIG

    request = next(iter(operation))
    digest_input = canonicalize(operation, c14n)
    signature = etree.SubElement(request, ds("Signature"), nsmap={None: DSIG})  # type: ignore[dict-item]
    signed_info = etree.SubElement(signature, ds("SignedInfo"))
    etree.SubElement(signed_info, ds("CanonicalizationMethod"), Algorithm=c14n)
    etree.SubElement(
        signed_info, ds("SignatureMethod"), Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    )
    reference = etree.SubElement(signed_info, ds("Reference"))
    if uri is not None:
        reference.set("URI", uri)
    container = etree.SubElement(reference, ds("Transforms"))
    for algorithm in transforms:
        etree.SubElement(container, ds("Transform"), Algorithm=algorithm)
    etree.SubElement(reference, ds("DigestMethod"), Algorithm=SHA1)
    etree.SubElement(reference, ds("DigestValue")).text = b64(
        __import__("hashlib").sha1(digest_input).digest()
    )
    value = fiel.sign_sha1(canonicalize(signed_info, c14n))
    etree.SubElement(signature, ds("SignatureValue")).text = b64(value)
    x509_data = etree.SubElement(etree.SubElement(signature, ds("KeyInfo")), ds("X509Data"))
    etree.SubElement(x509_data, ds("X509Certificate")).text = fiel.certificate.base64


def local_now(sat: Emulator) -> datetime:
    """The emulated 'now' as SAT writes dates (Mexico City, no time zone), to the second."""
    from satdescarga.clock import to_local

    return to_local(sat.now()).replace(microsecond=0)


def solicitud_code(result: g.RespuestaSolicitudDescMasTercero) -> tuple[str | None, str | None]:
    return result.cod_estatus, result.mensaje
