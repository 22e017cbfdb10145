"""The four services' APIs, called with the signed-in person's operator token.

The console keeps no copy of their data: every page asks the service that owns it, and that
service enforces the role the token carries.
"""

from __future__ import annotations

from typing import Any, Literal

import httpx

from metaconnect_common.auth import issue_token
from metaconnect_console.auth.service import Person
from metaconnect_console.config import ConsoleSettings

ServiceName = Literal["ingest", "profile", "router", "delivery"]


class ServiceUnavailable(Exception):
    """A service did not answer, or failed (5xx): the page says which."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service}: {detail}")
        self.service = service
        self.detail = detail


class Refused(Exception):
    """A service refused the call (4xx): its JSON body names the field and the rule."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body

    @property
    def message(self) -> str:
        """The service's own sentence (`message`), with each field error's field and rule."""
        if not isinstance(self.body, dict):
            return str(self.body or f"refused ({self.status})")
        message = str(self.body.get("message") or self.body.get("error") or f"refused ({self.status})")
        fields = [e for e in self.body.get("errors") or [] if isinstance(e, dict)]
        details = "; ".join(f"{e.get('field')}: {e.get('message') or e.get('rule')}" for e in fields)
        return f"{message} ({details})" if details else message

    @property
    def field_errors(self) -> dict[str, str]:
        """Each field the service named, with its rule and message: for errors shown at their field."""
        if not isinstance(self.body, dict):
            return {}
        found: dict[str, str] = {}
        for error in self.body.get("errors") or []:
            if isinstance(error, dict) and error.get("field"):
                rule, text = error.get("rule"), error.get("message")
                found.setdefault(str(error["field"]), f"{text} ({rule})" if rule else str(text))
        return found


class Services:
    def __init__(self, settings: ConsoleSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self.base = {
            "ingest": settings.ingest_url,
            "profile": settings.profile_url,
            "router": settings.router_url,
            "delivery": settings.delivery_url,
        }

    def token(self, person: Person) -> str:
        return issue_token(
            self.settings.common.auth,
            subject=person.email or person.subject,
            role=person.role,
            ttl_s=self.settings.operator_token_ttl_s,
        )

    async def call(
        self,
        person: Person,
        method: str,
        service: ServiceName,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """The service's answer; a 4xx is returned as is, a 5xx or no answer raises.
        `headers` adds to the operator token (e.g. `If-Match`)."""
        try:
            response = await self.http.request(
                method,
                f"{self.base[service]}{path}",
                params={k: v for k, v in (params or {}).items() if v is not None and v != ""},
                json=json,
                headers={**(headers or {}), "Authorization": f"Bearer {self.token(person)}"},
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(service, f"no answer ({type(exc).__name__})") from None
        if response.status_code >= 500:
            raise ServiceUnavailable(service, f"answered {response.status_code}")
        return response

    async def json(
        self,
        person: Person,
        method: str,
        service: ServiceName,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """The JSON body of a 2xx answer; `Refused` for a 4xx."""
        response = await self.call(person, method, service, path, params=params, json=json, headers=headers)
        body = _body(response)
        if response.status_code >= 400:
            raise Refused(response.status_code, body)
        return body

    async def get(self, person: Person, service: ServiceName, path: str, **params: Any) -> Any:
        return await self.json(person, "GET", service, path, params=params)


def _body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text
