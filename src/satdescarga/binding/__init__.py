"""Runtime for the generated layer: value codecs, XML binding metadata and SOAP descriptors."""

from satdescarga.binding.security import Timestamp, read_timestamp
from satdescarga.binding.soap import (
    EnvelopeError,
    HeaderPart,
    OperationDescriptor,
    PortDescriptor,
    ReplyStream,
    ServiceDescriptor,
    SoapReply,
    Transport,
    reply_from_envelope,
)
from satdescarga.binding.values import Codec, LexicalError
from satdescarga.binding.xmltypes import (
    Attribute,
    BindingError,
    Child,
    XmlFragment,
    XmlObject,
    XmlType,
    from_element,
    to_element,
)

__all__ = [
    "Attribute",
    "BindingError",
    "Child",
    "Codec",
    "EnvelopeError",
    "HeaderPart",
    "LexicalError",
    "OperationDescriptor",
    "PortDescriptor",
    "ReplyStream",
    "ServiceDescriptor",
    "SoapReply",
    "Timestamp",
    "Transport",
    "XmlFragment",
    "XmlObject",
    "XmlType",
    "from_element",
    "read_timestamp",
    "reply_from_envelope",
    "to_element",
]
