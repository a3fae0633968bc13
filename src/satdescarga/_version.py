"""The version, in a leaf module: anything may import it without loading the package."""

__version__ = "0.1.0"
