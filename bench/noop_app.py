"""The floor for `POST /v1/events`: same validation, no Kafka, no database.

Parses the body as the service's own `InteractionFields`, checks the bearer API key
against an in-memory set (keys from `BENCH_API_KEYS`, comma separated) and answers 202
`{"accepted": [<event_id>]}`. Served by uvicorn with the ingest service's settings
(see `metaconnect_ingest.__main__`) and its garbage-collector setting (`settle_heap`):
`python bench/noop_app.py --port N`.
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import uvicorn
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from metaconnect_common.schemas import InteractionFields
from metaconnect_common.service import settle_heap
from metaconnect_common.settings import CommonSettings

_bearer = HTTPBearer(auto_error=False)
_keys: set[str] = set()


class Accepted(BaseModel):
    accepted: list[uuid.UUID]


async def _principal(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    if credentials is None or credentials.credentials not in _keys:
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    return credentials.credentials


PrincipalDep = Annotated[str, Depends(_principal)]


def create_app() -> FastAPI:
    _keys.update(k for k in os.environ.get("BENCH_API_KEYS", "").split(",") if k)
    gen0 = int(os.environ.get("MC_GC_GEN0_THRESHOLD", CommonSettings.model_fields["gc_gen0_threshold"].default))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        settle_heap(gen0)  # the services' runtime setting, so that only the work differs
        yield

    app = FastAPI(title="noop ingest floor", lifespan=lifespan)

    @app.post("/v1/events", status_code=202)
    async def post_event(event: InteractionFields, _: PrincipalDep) -> Accepted:
        return Accepted(accepted=[event.event_id or uuid.uuid4()])

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        "noop_app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        log_config=None,
        proxy_headers=True,
        timeout_graceful_shutdown=20,
    )


if __name__ == "__main__":
    main()
