"""A generic webhook receiver: any JSON, signed with `X-Metaconnect-Signature` when a secret is set."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from metaconnect_common.signatures import METACONNECT_SIGNATURE_HEADER, SignatureCheck, verify_metaconnect_signature
from metaconnect_sandbox.config import SandboxConfig
from metaconnect_sandbox.faults import Fault
from metaconnect_sandbox.providers.common import compact_json, parse_json
from metaconnect_sandbox.state import ProviderAnswer, StateDep, answer

router = APIRouter(prefix="/webhook", tags=["webhook"])


def webhook_error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"status": status, "message": message}}


def fault_body(fault: Fault) -> dict[str, Any]:
    return webhook_error(fault.status or 500, fault.message or "scripted sandbox error")


@router.post("/{name}")
async def receive(name: str, request: Request, state: StateDep) -> JSONResponse:
    raw = await request.body()
    verdict = _verdict(state.config, name, raw, request.headers.get(METACONNECT_SIGNATURE_HEADER), now=time.time())
    return await answer(state, request, "webhook", verdict, fault_body)


def _verdict(config: SandboxConfig, name: str, raw: bytes, signature: str | None, *, now: float) -> ProviderAnswer:
    body, not_json = parse_json(raw)
    secret = config.webhook_secrets.get(name)
    check = (
        verify_metaconnect_signature(
            secret.get_secret_value(), raw, signature, now=now, tolerance_s=config.webhook_tolerance_s
        )
        if secret is not None
        else None
    )
    kind = body.get("type") if isinstance(body, dict) else None
    verdict = ProviderAnswer(
        200,
        {"received": True},
        [name],
        body,
        auth_ok=check in {None, SignatureCheck.VALID},
        signature=check.value if check is not None else None,
        title=kind if isinstance(kind, str) else None,
        text=compact_json(body),
    )
    if check is not None and check is not SignatureCheck.VALID:
        reason = f"{METACONNECT_SIGNATURE_HEADER}: {check.value}"
        return replace(verdict, status=401, error=reason, body=webhook_error(401, reason))
    if not_json is not None:
        reason = f"body is not JSON: {not_json}"
        return replace(verdict, status=400, error=reason, body=webhook_error(400, reason))
    return verdict
