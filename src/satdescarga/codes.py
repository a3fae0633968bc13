"""SAT's status codes (CodEstatus, CodigoEstadoSolicitud) and request states (EstadoSolicitud).

Official messages from SAT's v1.5 documents (sources in wsdl/README.md; the emulator's table of
rules and codes is in src/satdescarga/emulator/README.md). Shared by the client (to explain what
SAT answered) and the emulator (to answer like SAT).
"""

from __future__ import annotations

from enum import IntEnum


class SatCode(IntEnum):
    """CodEstatus / CodigoEstadoSolicitud values documented by SAT."""

    USUARIO_NO_VALIDO = 300
    XML_MAL_FORMADO = 301
    SELLO_MAL_FORMADO = 302
    SELLO_NO_CORRESPONDE = 303
    CERTIFICADO_REVOCADO_O_CADUCO = 304
    CERTIFICADO_INVALIDO = 305
    ERROR_NO_CONTROLADO = 404
    ACEPTADA = 5000
    TERCERO_NO_AUTORIZADO = 5001
    SOLICITUDES_AGOTADAS = 5002
    TOPE_MAXIMO = 5003
    NO_ENCONTRADA = 5004
    SOLICITUD_DUPLICADA = 5005
    ERROR_INTERNO = 5006
    PAQUETE_NO_EXISTE = 5007
    MAXIMO_DE_DESCARGAS = 5008
    LIMITE_POR_FOLIO = 5011
    XML_CANCELADO = 5012

    @property
    def message(self) -> str:
        """SAT's official short message for this code."""
        return MESSAGES[self]


MESSAGES: dict[SatCode, str] = {
    SatCode.USUARIO_NO_VALIDO: "Usuario No Válido",
    SatCode.XML_MAL_FORMADO: "XML Mal Formado",
    SatCode.SELLO_MAL_FORMADO: "Sello Mal Formado",
    SatCode.SELLO_NO_CORRESPONDE: "Sello no corresponde con RfcSolicitante",
    SatCode.CERTIFICADO_REVOCADO_O_CADUCO: "Certificado Revocado o Caduco",
    SatCode.CERTIFICADO_INVALIDO: "Certificado Inválido",
    SatCode.ERROR_NO_CONTROLADO: "Error no Controlado",
    SatCode.ACEPTADA: "Solicitud Aceptada",
    SatCode.TERCERO_NO_AUTORIZADO: "Tercero no autorizado",
    SatCode.SOLICITUDES_AGOTADAS: "Se han agotado las solicitudes de por vida",
    SatCode.TOPE_MAXIMO: "Tope máximo de elementos de la consulta",
    SatCode.NO_ENCONTRADA: "No se encontró la información",
    SatCode.SOLICITUD_DUPLICADA: "Ya se tiene una solicitud registrada",
    SatCode.ERROR_INTERNO: "Error interno en el proceso",
    SatCode.PAQUETE_NO_EXISTE: "No existe el paquete solicitado",
    SatCode.MAXIMO_DE_DESCARGAS: "Máximo de descargas permitidas",
    SatCode.LIMITE_POR_FOLIO: "Límite de descargas por folio por día",
    SatCode.XML_CANCELADO: "No se permite la descarga de xml que se encuentren cancelados",
}


class RequestState(IntEnum):
    """EstadoSolicitud of a download request (0 is undocumented: shown as UNKNOWN)."""

    UNKNOWN = 0
    ACCEPTED = 1
    IN_PROGRESS = 2
    FINISHED = 3
    ERROR = 4
    REJECTED = 5
    EXPIRED = 6

    @classmethod
    def from_code(cls, code: int) -> RequestState:
        """The state for a raw EstadoSolicitud; unknown values map to UNKNOWN."""
        try:
            return cls(code)
        except ValueError:
            return cls.UNKNOWN

    @property
    def label(self) -> str:
        return STATE_LABELS[self]

    @property
    def is_final(self) -> bool:
        return self not in (RequestState.ACCEPTED, RequestState.IN_PROGRESS)


STATE_LABELS = {
    RequestState.UNKNOWN: "Desconocida",
    RequestState.ACCEPTED: "Aceptada",
    RequestState.IN_PROGRESS: "En proceso",
    RequestState.FINISHED: "Terminada",
    RequestState.ERROR: "Error",
    RequestState.REJECTED: "Rechazada",
    RequestState.EXPIRED: "Vencida",
}
