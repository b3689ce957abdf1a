"""What each role may do: the one place the API decides access, so a new endpoint cannot
forget a rule."""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.table_spec import TableSpec


@dataclass(frozen=True)
class Caller:
    """Who a request is from: its token's name and role."""

    name: str
    role: str

    @property
    def masked(self) -> bool:
        """Whether PII columns are masked for this caller."""
        return self.role != "engineer"

    @property
    def may_query(self) -> bool:
        """Whether this caller may run SQL (`POST /query`)."""
        return self.role == "engineer"

    def may_read(self, spec: TableSpec) -> bool:
        """Analysts read gold only; engineers every layer, quarantine and governance too."""
        return self.role == "engineer" or spec.layer == "gold"
