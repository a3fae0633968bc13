"""What turns a generated request into the exact request SAT expects: the signatures (XML-DSig
pieces, Autentica's WS-Security header, the enveloped signature) and the egress plugins that
apply them, with the token header, to the envelope the transport built."""
