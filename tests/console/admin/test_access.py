"""Who may change whose access: nobody lowers or removes their own, MC_CONSOLE_ADMINS stay admins."""

from __future__ import annotations

import pytest

from metaconnect_common.auth import Role
from metaconnect_console.admin.access import refusal

ADMINS = ["first-admin@example.com"]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR, None])
def test_an_admin_cannot_lower_or_remove_their_own_access(role: Role | None) -> None:
    reason = refusal(actor="Ana@Example.com", email="ana@example.com", role=role, admins=ADMINS)
    assert reason is not None
    assert "another admin" in reason


def test_an_admin_may_confirm_their_own_admin_role_and_change_anyone_else() -> None:
    assert refusal(actor="ana@example.com", email="ana@example.com", role=Role.ADMIN, admins=ADMINS) is None
    for role in (Role.VIEWER, Role.EDITOR, Role.ADMIN, None):
        assert refusal(actor="ana@example.com", email="vic@example.com", role=role, admins=ADMINS) is None


@pytest.mark.parametrize("role", [Role.VIEWER, None])
def test_an_address_in_mc_console_admins_stays_admin(role: Role | None) -> None:
    reason = refusal(actor="ana@example.com", email="first-admin@example.com", role=role, admins=ADMINS)
    assert reason is not None
    assert "MC_CONSOLE_ADMINS" in reason
