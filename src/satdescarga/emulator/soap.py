"""Response envelopes shaped like SAT's (prefixes, namespaces and attribute order of the real
responses in tests/conformance/sat-ws), compact as WCF sends them (no XML declaration); and
`body_content`, how the operation handlers find a request's Body."""

from __future__ import annotations

from datetime import datetime
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from satdescarga import generated as g
from satdescarga.binding import XmlObject, to_element
from satdescarga.vocabulary import DES, WSSE, WSU, timestamp_text
from satdescarga.vocabulary import SOAP_ENV as SOAP

AUTH = "http://DescargaMasivaTerceros.gob.mx"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
ADDRESSING = "http://www.w3.org/2005/08/addressing"
DISPATCHER = "http://schemas.microsoft.com/net/2005/12/windowscommunicationfoundation/dispatcher"
CONTENT_TYPE = "text/xml; charset=utf-8"

INVALID_SECURITY = "An error occurred when verifying security for the message."
ACTION_NOT_SUPPORTED = (
    "The message with Action '{action}' cannot be processed at the receiver, due to a "
    "ContractFilter mismatch at the EndpointDispatcher. This may be because of either a contract "
    "mismatch (mismatched Actions between sender and receiver) or a binding/security mismatch "
    "between the sender and the receiver.  Check that sender and receiver have the same contract "
    "and the same binding (including security requirements, e.g. Message, Transport, None)."
)
INTERNAL_ERROR = (
    "The server was unable to process the request due to an internal error.  For more "
    "information about the error, either turn on IncludeExceptionDetailInFaults (either from "
    "ServiceBehaviorAttribute or from the <serviceDebug> configuration behavior) on the server "
    "in order to send the exception information back to the client, or turn on tracing as per "
    "the Microsoft .NET Framework SDK documentation and inspect the server trace logs."
)

_SOLICITA_RESPONSES: dict[str, tuple[type[XmlObject], str]] = {
    "SolicitaDescargaEmitidos": (
        g.SolicitaDescargaEmitidosResponse,
        "solicita_descarga_emitidos_result",
    ),
    "SolicitaDescargaRecibidos": (
        g.SolicitaDescargaRecibidosResponse,
        "solicita_descarga_recibidos_result",
    ),
    "SolicitaDescargaFolio": (g.SolicitaDescargaFolioResponse, "solicita_descarga_folio_result"),
}


def body_content(envelope: etree._Element) -> list[etree._Element] | None:
    """The element children of a request's SOAP 1.1 Body; None if it is no SOAP 1.1 envelope."""
    body = envelope.find(f"{{{SOAP}}}Body") if envelope.tag == f"{{{SOAP}}}Envelope" else None
    if body is None:
        return None
    return [c for c in body if isinstance(c.tag, str)]


def _body_envelope(content: etree._Element) -> bytes:
    envelope = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"s": SOAP})
    body = etree.SubElement(envelope, f"{{{SOAP}}}Body", nsmap={"xsi": XSI, "xsd": XSD})
    body.append(content)
    return etree.tostring(envelope)


def solicita_response(operation: str, result: g.RespuestaSolicitudDescMasTercero) -> bytes:
    cls, field = _SOLICITA_RESPONSES[operation]
    response = cls(**{field: result})
    return _body_envelope(to_element(response, nsmap={None: DES}))


def verifica_response(result: g.RespuestaVerificaSolicitudDescMasTercero) -> bytes:
    response = g.VerificaSolicitudDescargaResponse(verifica_solicitud_descarga_result=result)
    return _body_envelope(to_element(response, nsmap={None: DES}))


def autentica_response(token: str, created: datetime, expires: datetime) -> bytes:
    return (
        f'<s:Envelope xmlns:s="{SOAP}" xmlns:u="{WSU}"><s:Header>'
        f'<o:Security s:mustUnderstand="1" xmlns:o="{WSSE}"><u:Timestamp u:Id="_0">'
        f"<u:Created>{timestamp_text(created)}</u:Created>"
        f"<u:Expires>{timestamp_text(expires)}</u:Expires></u:Timestamp></o:Security>"
        f'</s:Header><s:Body><AutenticaResponse xmlns="{AUTH}">'
        f"<AutenticaResult>{escape(token)}</AutenticaResult></AutenticaResponse></s:Body>"
        "</s:Envelope>"
    ).encode()


def descarga_parts(code: int, message: str) -> tuple[bytes, bytes]:
    """Head and tail around the base64 package, so the Paquete can be streamed between them."""
    head = (
        f'<s:Envelope xmlns:s="{SOAP}"><s:Header><h:respuesta CodEstatus="{code}" '
        f"Mensaje={quoteattr(message)} "
        f'xmlns:h="{DES}" xmlns="{DES}" xmlns:xsd="{XSD}" xmlns:xsi="{XSI}"/></s:Header>'
        f'<s:Body xmlns:xsi="{XSI}" xmlns:xsd="{XSD}"><RespuestaDescargaMasivaTercerosSalida '
        f'xmlns="{DES}"><Paquete>'
    )
    tail = "</Paquete></RespuestaDescargaMasivaTercerosSalida></s:Body></s:Envelope>"
    return head.encode("utf-8"), tail.encode("utf-8")


def descarga_without_package(code: int, message: str) -> bytes:
    head, tail = descarga_parts(code, message)
    return head[: -len(b"<Paquete>")] + b"<Paquete/>" + tail[len(b"</Paquete>") :]


def fault(code: str, namespace: str, message: str) -> bytes:
    """A SOAP 1.1 fault as WCF writes it: `a:`-prefixed faultcode, faultstring in en-US."""
    return (
        f'<s:Envelope xmlns:s="{SOAP}"><s:Body><s:Fault>'
        f'<faultcode xmlns:a="{namespace}">a:{code}</faultcode>'
        f'<faultstring xml:lang="en-US">{escape(message)}</faultstring>'
        "</s:Fault></s:Body></s:Envelope>"
    ).encode()


def invalid_security() -> bytes:
    return fault("InvalidSecurity", WSSE, INVALID_SECURITY)


def action_not_supported(action: str) -> bytes:
    return fault("ActionNotSupported", ADDRESSING, ACTION_NOT_SUPPORTED.format(action=action))


def internal_service_fault() -> bytes:
    return fault("InternalServiceFault", DISPATCHER, INTERNAL_ERROR)
