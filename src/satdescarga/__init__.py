"""satdescarga: SAT's Descarga Masiva de CFDI y Retenciones, complete and correct to the byte."""

__version__ = "0.1.0"
