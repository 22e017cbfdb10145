"""Who may sign in with which role, and where a sign-in may return to: pure rules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from metaconnect_common.auth import Role
from metaconnect_console.auth.roles import claimed_role, role_for, safe_return_to

CLAIM = "metaconnect_role"


def test_the_admin_list_wins_then_the_members_page_then_the_claim() -> None:
    members = {"lena@example.com": Role.VIEWER}
    admins = {"root@example.com"}
    assert (
        role_for("Root@Example.com", {CLAIM: "viewer"}, role_claim=CLAIM, members=members, admins=admins) == Role.ADMIN
    )
    # An admin's entry lowers what the provider grants.
    assert (
        role_for("lena@example.com", {CLAIM: "admin"}, role_claim=CLAIM, members=members, admins=admins) == Role.VIEWER
    )
    assert (
        role_for("otto@example.com", {CLAIM: "editor"}, role_claim=CLAIM, members=members, admins=admins) == Role.EDITOR
    )
    assert role_for("otto@example.com", {}, role_claim=CLAIM, members=members, admins=admins) is None
    assert role_for("", {}, role_claim=CLAIM, members={"": Role.ADMIN}, admins={""}) is None


def test_a_claim_may_be_a_list_and_unknown_values_grant_nothing() -> None:
    assert claimed_role(["viewer", "editor", "owner"]) == Role.EDITOR
    assert claimed_role("owner") is None
    assert claimed_role(7) is None
    assert claimed_role(None) is None
    assert claimed_role(["Admin"]) is None  # roles are exact, as the services spell them


@given(st.text())
def test_a_sign_in_only_returns_to_a_path_on_the_console(target: str) -> None:
    chosen = safe_return_to(target)
    assert chosen.startswith("/")
    assert not chosen.startswith("//")
    assert "\\" not in chosen
    assert chosen in (target, "/")


def test_other_sites_are_never_a_return_target() -> None:
    for target in ("https://evil.example", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", None, ""):
        assert safe_return_to(target) == "/"
    assert safe_return_to("/customers?q=email%3Aa%40b.c") == "/customers?q=email%3Aa%40b.c"
