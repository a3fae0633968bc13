"""Code generator: SAT's WSDL/XSD contract (wsdl/) -> typed Python layer (generated/)."""
