"""What changes the fleet from the web: the same calls as `satdescarga fleet ...`, each
checked (role and scope) and audited. (built by the serve issue's helpers)"""

from __future__ import annotations


class FleetActions:
    pass
