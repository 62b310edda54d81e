"""Who acts on the engine: a username and the roles held at that moment."""

from __future__ import annotations

from dataclasses import dataclass

ADMIN = "admin"


@dataclass(frozen=True)
class Actor:
    """Who is acting: a username and the roles held now."""

    username: str
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        """Tell whether the actor may administer instances."""
        return ADMIN in self.roles
