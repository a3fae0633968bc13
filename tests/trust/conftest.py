"""The trust tests share the sync tests' fixtures (the test e.firma)."""

from ..sync.conftest import fiel

__all__ = ["fiel"]
