"""Rules of the access page: which changes to who may sign in an admin may make."""

from __future__ import annotations

from collections.abc import Collection

from metaconnect_common.auth import Role


def refusal(*, actor: str, email: str, role: Role | None, admins: Collection[str]) -> str | None:
    """Why `actor` may not give `email` the `role` (None: remove their entry), or None if they may.

    An admin cannot lower or remove their own access (another admin can), so nobody locks
    themselves out by mistake; an address in MC_CONSOLE_ADMINS is an admin whatever its entry says.
    """
    if email == actor.lower() and role is not Role.ADMIN:
        what = "remove your own access" if role is None else f"make yourself {role.value}"
        return f"You cannot {what}: ask another admin, so that nobody locks themselves out by mistake."
    if email in admins and role is not Role.ADMIN:
        return f"{email} is named in MC_CONSOLE_ADMINS and stays an admin whatever this page says."
    return None
