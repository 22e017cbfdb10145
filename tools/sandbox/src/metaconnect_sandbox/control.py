"""The control API under `/_sandbox`: scripted faults, what was received, callbacks sent."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from metaconnect_sandbox.faults import Fault, FaultScript, Provider
from metaconnect_sandbox.recording import CallbackAttempt, ReceivedMessage
from metaconnect_sandbox.state import StateDep

router = APIRouter(prefix="/_sandbox", tags=["sandbox"])

MAX_WAIT_S = 60.0


class MessageList(BaseModel):
    messages: list[ReceivedMessage]


class CallbackList(BaseModel):
    callbacks: list[CallbackAttempt]


class PendingFaults(BaseModel):
    pending: dict[Provider, list[Fault]]


class TokenList(BaseModel):
    tokens: list[str] = Field(min_length=1)


class UnregisteredTokens(BaseModel):
    unregistered: list[str]


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.post("/reset", status_code=204)
async def reset(state: StateDep) -> Response:
    """Forget received messages, callbacks, queued faults and FCM tokens unregistered at runtime."""
    state.reset()
    return Response(status_code=204)


@router.post("/faults")
async def queue_faults(script: FaultScript, state: StateDep) -> PendingFaults:
    """Queue scripted answers for the next requests to `script.provider`, one per request, in order."""
    state.faults.add(script)
    return PendingFaults(pending=state.faults.pending())


@router.get("/faults")
async def pending_faults(state: StateDep) -> PendingFaults:
    return PendingFaults(pending=state.faults.pending())


@router.delete("/faults", status_code=204)
async def clear_faults(state: StateDep, provider: Provider | None = None) -> Response:
    state.faults.clear(provider)
    return Response(status_code=204)


@router.get("/messages")
async def list_messages(state: StateDep, provider: Provider | None = None, to: str | None = None) -> MessageList:
    """What the fake providers received, oldest first; `to` matches any one recipient exactly."""
    return MessageList(messages=state.recorder.messages(provider, to))


@router.delete("/messages", status_code=204)
async def clear_messages(state: StateDep) -> Response:
    state.recorder.clear()
    return Response(status_code=204)


@router.get(
    "/messages/wait",
    response_model=MessageList,
    responses={408: {"description": "Fewer than `count` messages arrived in time; the body lists those that did."}},
)
async def wait_for_messages(
    state: StateDep,
    provider: Provider | None = None,
    to: str | None = None,
    count: int = Query(1, ge=1),
    timeout_s: float = Query(10.0, gt=0, le=MAX_WAIT_S),
) -> MessageList | JSONResponse:
    """Answer once at least `count` matching messages have been received (408 after `timeout_s`)."""
    try:
        return MessageList(messages=await state.recorder.wait(count, provider=provider, to=to, timeout_s=timeout_s))
    except TimeoutError:
        found = state.recorder.messages(provider, to)
        body = {
            "error": {"status": 408, "message": f"{len(found)} of {count} messages within {timeout_s}s"},
            "messages": [m.model_dump(mode="json") for m in found],
        }
        return JSONResponse(body, status_code=408)


@router.get("/callbacks")
async def list_callbacks(state: StateDep, provider: Provider | None = None) -> CallbackList:
    """Status callbacks and webhooks the sandbox posted, with the answer each got (or why it failed)."""
    return CallbackList(callbacks=state.recorder.callbacks(provider))


@router.post("/fcm/unregistered-tokens")
async def unregister_fcm_tokens(tokens: TokenList, state: StateDep) -> UnregisteredTokens:
    """From now on, FCM answers these device tokens with 404 UNREGISTERED."""
    state.fcm_unregistered.update(tokens.tokens)
    return UnregisteredTokens(unregistered=sorted(state.fcm_unregistered))
