"""What a change to people or tokens cannot do, in one Spanish sentence (a usage error: the
CLI exits 2, a page shows it beside the form)."""

from __future__ import annotations

from satdescarga.errors import ConfigurationError


class AccountError(ConfigurationError):
    """A name, password, role or RFC that is not valid; a user that exists already or not."""
