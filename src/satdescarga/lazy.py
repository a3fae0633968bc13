"""Public names imported on first access (PEP 562), for the packages that re-export them.

`satdescarga`, `satdescarga.client` and `satdescarga.emulator` list their public names and the
module defining each; nothing is imported until a name is used, so `satdescarga --help` and
`import satdescarga.packages` never load zeep, xmlschema, requests or cryptography.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any


def lazy_exports(
    package: str, table: Mapping[str, str], namespace: MutableMapping[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module `__getattr__` and `__dir__` of `package`: `table` maps each public name to
    the module that defines it; a name, once imported, is kept in `namespace`."""

    def __getattr__(name: str) -> Any:  # noqa: N807 (the PEP 562 hook)
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # later accesses skip this function
        return value

    def __dir__() -> list[str]:  # noqa: N807
        return sorted({*namespace, *table})

    return __getattr__, __dir__
