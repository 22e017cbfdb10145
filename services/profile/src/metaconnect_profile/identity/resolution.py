"""Which customer an interaction's reference names (pure: the caller reads the owners).

* No identifier known: a new customer owns them all, and its own id (`mc`). A reference that
  names only a Metaconnect id nobody has (an erased customer's late receipt) creates nobody.
* One customer known: it gains the identifiers it did not have yet.
* Several customers known (the interaction links them): they merge. The survivor is the
  oldest (then the smallest id), so every replica picks the same one; identities,
  timeline, evidence and rejections move to it, the others point at it, and the merge
  is recorded and reported downstream.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from metaconnect_common.schemas import CustomerRef
from metaconnect_profile.identity.keys import METACONNECT, identifiers

Identifier = tuple[str, str]  # (kind, value)


class IdentityConflict(Exception):
    """Another transaction claimed one of the identifiers, or erased or merged an owner, meanwhile:
    retry the record (the next attempt sees the new owner and links or merges)."""


class _Dated(Protocol):
    @property
    def id(self) -> uuid.UUID: ...

    @property
    def created_at(self) -> datetime: ...


C = TypeVar("C", bound=_Dated)


def survivor_of(customers: Sequence[C]) -> C:
    """The deterministic survivor of a merge: oldest first, then smallest id."""
    return min(customers, key=lambda c: (c.created_at, c.id))


@dataclass(frozen=True)
class Resolution:
    """The known owners of a reference's identifiers (in id order) and the identifiers nobody owns yet."""

    owners: tuple[uuid.UUID, ...]
    unowned: tuple[Identifier, ...]

    @property
    def unknown(self) -> bool:
        """It names only a Metaconnect id nobody has: there is no one to apply it to."""
        return not self.owners and not self.unowned


def resolve(ref: CustomerRef, owner_of: Mapping[Identifier, uuid.UUID]) -> Resolution:
    """The owners of `ref`'s identifiers and those it would attach (a Metaconnect id is never
    attached: it is the customer's own, resolved only)."""
    ids = identifiers(ref)
    owners = sorted({owner_of[i] for i in ids if i in owner_of})
    unowned = tuple(i for i in ids if i[0] != METACONNECT and i not in owner_of)
    return Resolution(owners=tuple(owners), unowned=unowned)
