"""Who may sign in, and with which role: pure rules over what the identity provider says."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from metaconnect_common.auth import Role


def role_for(
    email: str,
    claims: Mapping[str, Any],
    *,
    role_claim: str,
    members: Mapping[str, Role],
    admins: Collection[str],
) -> Role | None:
    """The role a person signs in with, or None if they may not sign in.

    In order: an address in `MC_CONSOLE_ADMINS` is an admin (how a new installation gets its
    first admin); an admin's entry on the members page wins next (an admin's explicit choice,
    also to lower what the provider grants); then the provider's role claim (a string, or a
    list whose highest known role counts). Anyone else is refused.
    """
    address = email.lower()
    if address and address in admins:
        return Role.ADMIN
    if address and address in members:
        return members[address]
    return claimed_role(claims.get(role_claim))


def claimed_role(value: Any) -> Role | None:
    """The highest known role in a claim's value (a string or a list of strings)."""
    values = value if isinstance(value, list) else [value]
    known = [Role(v) for v in values if isinstance(v, str) and v in Role.__members__.values()]
    return max(known, key=lambda role: role.rank, default=None)


def safe_return_to(target: str | None) -> str:
    """Where to go after signing in: a path on the console only (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
