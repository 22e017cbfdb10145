"""Specs marketing ops change over time (routes, journeys): every change a new version with its
author and time, checked on write.

A `PUT` of the spec a name already has changes nothing and makes no version, so applying the
same file twice is a no-op (`metaconnect routes apply`, `metaconnect journeys apply`). A delete
is a version too: the spec stops acting and keeps its history; a later `PUT` brings it back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar, cast

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from metaconnect_common.db import unit_of_work
from metaconnect_common.errors import ApiError, FieldError
from metaconnect_router.routes.spec import STORED_SPEC, RouteStatus

SpecT = TypeVar("SpecT", bound=BaseModel)


class Head(Protocol):
    """The row naming a spec and its current version (`Route`, `Journey`)."""

    name: str
    version: int
    status: str
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class VersionRow(Protocol):
    version: int
    spec: dict[str, Any]
    status: str
    change: str
    author: str
    created_at: datetime


class SpecOut(BaseModel, Generic[SpecT]):
    """A spec's current version."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: int
    status: RouteStatus
    spec: SpecT
    author: str
    created_at: datetime
    updated_at: datetime
    deleted: bool = False


class SpecVersionOut(BaseModel, Generic[SpecT]):
    """One version in a spec's history."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: int
    status: RouteStatus
    change: str
    author: str
    created_at: datetime
    spec: SpecT


class SpecPlan(BaseModel, Generic[SpecT]):
    """What applying a spec would do, computed without writing (as code: `plan`, `diff`)."""

    model_config = ConfigDict(frozen=True)

    name: str
    action: str  # create | update | none
    current_version: int | None
    current: SpecT | None
    proposed: SpecT


@dataclass(frozen=True)
class Kind:
    """Where one kind of spec is stored: its head and version models, and the version's column naming its head."""

    label: str  # "route", "journey": in messages
    path: str  # "/v1/routes": in messages
    head: type[Any]
    version: type[Any]
    owner: str  # the version model's column naming the head: "route", "journey"

    def owner_column(self) -> InstrumentedAttribute[str]:
        column: InstrumentedAttribute[str] = getattr(self.version, self.owner)
        return column


@dataclass(frozen=True)
class Written(Generic[SpecT]):
    out: SpecOut[SpecT]
    created: bool  # new (or a deleted one brought back)
    changed: bool  # a new version was written


Hook = Callable[[AsyncSession, Any, Any], Awaitable[None]]
"""Runs in the writing transaction with the head and the new version row (journeys move their customers)."""


@dataclass(frozen=True)
class Answers(Generic[SpecT]):
    """The API's answer models for one kind (named for it in the OpenAPI document)."""

    spec: type[SpecT]
    out: type[SpecOut[SpecT]]
    version_out: type[SpecVersionOut[SpecT]]
    plan: type[SpecPlan[SpecT]]


class VersionedSpecs(Generic[SpecT]):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        kind: Kind,
        answers: Answers[SpecT],
        *,
        on_change: Callable[[], None] | None = None,
        on_write: Hook | None = None,
    ) -> None:
        self._sessions = sessions
        self._kind = kind
        self._answers = answers
        self._on_change = on_change or (lambda: None)
        self._on_write = on_write

    def _parse(self, document: dict[str, Any]) -> SpecT:
        return self._answers.spec.model_validate(document, context=STORED_SPEC)

    def _out(self, head: Head, version: VersionRow) -> SpecOut[SpecT]:
        return self._answers.out(
            name=head.name,
            version=head.version,
            status=RouteStatus(head.status),
            spec=self._parse(version.spec),
            author=version.author,
            created_at=head.created_at,
            updated_at=head.updated_at,
            deleted=head.deleted_at is not None,
        )

    def _version_out(self, name: str, version: VersionRow) -> SpecVersionOut[SpecT]:
        return self._answers.version_out(
            name=name,
            version=version.version,
            status=RouteStatus(version.status),
            change=version.change,
            author=version.author,
            created_at=version.created_at,
            spec=self._parse(version.spec),
        )

    # -- SQL -------------------------------------------------------------------------------------

    async def _lock(self, session: AsyncSession, name: str) -> Any:
        head = self._kind.head
        return await session.scalar(select(head).where(head.name == name).with_for_update())

    def _joined(self) -> Any:
        return _joined(self._kind)

    async def _current(self, session: AsyncSession, name: str) -> tuple[Any, Any] | None:
        row = (await session.execute(self._joined().where(self._kind.head.name == name))).first()
        return (row[0], row[1]) if row else None

    async def _version(self, session: AsyncSession, name: str, number: int) -> Any:
        return await session.get(self._kind.version, (name, number))

    # -- the API -----------------------------------------------------------------------------------

    async def create(self, spec: SpecT, *, author: str) -> SpecOut[SpecT]:
        label, name = self._kind.label, _name(spec)
        async with unit_of_work(self._sessions) as session:
            existing = await self._lock(session, name)
            if existing is not None and existing.deleted_at is None:
                raise ApiError(
                    409,
                    f"{label}_exists",
                    f"{label} {name} exists; change it with PUT {self._kind.path}/{name}",
                    errors=[FieldError(field="name", rule="unique", message=f"a {label} with this name exists")],
                )
            written = await self._write(session, existing, spec, author=author)
        self._on_change()
        return written.out

    async def put(self, name: str, spec: SpecT, *, author: str, if_match: int | None = None) -> Written[SpecT]:
        """Create or change; no new version when the spec is what it is already."""
        if _name(spec) != name:
            raise ApiError(
                422,
                "validation_failed",
                "request failed validation",
                errors=[FieldError(field="name", rule="name_mismatch", message=f"must be {name}, as in the path")],
            )
        async with unit_of_work(self._sessions) as session:
            existing = await self._lock(session, name)
            if if_match is not None and (existing is None or existing.version != if_match):
                current = existing.version if existing else "none"
                raise ApiError(
                    412, "version_mismatch", f"{self._kind.label} {name} is at version {current}, not {if_match}"
                )
            if existing is not None and existing.deleted_at is None:
                version = await self._version(session, name, existing.version)
                if version is not None and version.spec == _document(spec):
                    return Written(self._out(existing, version), created=False, changed=False)
            written = await self._write(session, existing, spec, author=author)
        self._on_change()
        return written

    async def plan(self, spec: SpecT) -> SpecPlan[SpecT]:
        """What `put` would do with this spec, checked the same way; writes nothing."""
        name = _name(spec)
        async with self._sessions() as session:
            found = await self._current(session, name)
        plan = self._answers.plan
        if found is None or found[0].deleted_at is not None:
            return plan(name=name, action="create", current_version=None, current=None, proposed=spec)
        head, version = found
        action = "none" if version.spec == _document(spec) else "update"
        current = self._parse(version.spec)
        return plan(name=name, action=action, current_version=head.version, current=current, proposed=spec)

    async def delete(self, name: str, *, author: str) -> bool:
        """Stop it and keep its history; False when there is no such spec."""
        now = datetime.now(UTC)
        async with unit_of_work(self._sessions) as session:
            head = await self._lock(session, name)
            if head is None or head.deleted_at is not None:
                return False
            current = await self._version(session, name, head.version)
            assert current is not None  # the current version always exists
            head.version += 1
            head.status = RouteStatus.PAUSED.value
            head.updated_at = head.deleted_at = now
            version = self._kind.version(
                **{self._kind.owner: name},
                version=head.version,
                spec={**current.spec, "status": RouteStatus.PAUSED.value},
                status=RouteStatus.PAUSED.value,
                change="deleted",
                author=author,
                created_at=now,
            )
            session.add(version)
            await session.flush()
            if self._on_write is not None:
                await self._on_write(session, head, version)
        self._on_change()
        return True

    async def get(self, name: str) -> SpecOut[SpecT] | None:
        async with self._sessions() as session:
            found = await self._current(session, name)
        return self._out(*found) if found else None

    async def listed(
        self,
        *,
        status: RouteStatus | None = None,
        include_deleted: bool = False,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[SpecOut[SpecT]]:
        head = self._kind.head
        query = self._joined().order_by(head.name).limit(limit)
        if after is not None:
            query = query.where(head.name > after)
        if status is not None:
            query = query.where(head.status == status.value)
        if not include_deleted:
            query = query.where(head.deleted_at.is_(None))
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [self._out(h, v) for h, v in rows]

    async def versions(self, name: str) -> list[SpecVersionOut[SpecT]]:
        version = self._kind.version
        async with self._sessions() as session:
            rows = await session.scalars(
                select(version).where(self._kind.owner_column() == name).order_by(version.version.desc())
            )
            return [self._version_out(name, v) for v in rows]

    async def _write(self, session: AsyncSession, existing: Any, spec: SpecT, *, author: str) -> Written[SpecT]:
        now = datetime.now(UTC)
        name, status = _name(spec), _status(spec)
        created = existing is None or existing.deleted_at is not None
        if existing is None:
            existing = self._kind.head(name=name, version=0, status=status, created_at=now, updated_at=now)
            session.add(existing)
            await session.flush()  # the row its versions refer to
        existing.version += 1
        existing.status = status
        existing.updated_at = now
        existing.deleted_at = None
        version = self._kind.version(
            **{self._kind.owner: name},
            version=existing.version,
            spec=_document(spec),
            status=status,
            change="created" if created else "updated",
            author=author,
            created_at=now,
        )
        session.add(version)
        await session.flush()
        if self._on_write is not None:
            await self._on_write(session, existing, version)
        return Written(self._out(existing, version), created=created, changed=True)


class _Versioned(Protocol):
    name: str
    status: RouteStatus


def _name(spec: BaseModel) -> str:
    return cast(_Versioned, spec).name


def _status(spec: BaseModel) -> str:
    return cast(_Versioned, spec).status.value


def _document(spec: BaseModel) -> dict[str, Any]:
    """The spec as stored and exported: JSON-ready, defaults included, durations ISO 8601."""
    return spec.model_dump(mode="json")


def _joined(kind: Kind) -> Any:
    head, version = kind.head, kind.version
    return select(head, version).join(version, (kind.owner_column() == head.name) & (version.version == head.version))


async def active_versions(session: AsyncSession, kind: Kind) -> list[Any]:
    """The current versions of the specs that act (active and not deleted), by name."""
    head = kind.head
    query = _joined(kind).where(head.status == RouteStatus.ACTIVE.value, head.deleted_at.is_(None)).order_by(head.name)
    return [v for _, v in (await session.execute(query)).all()]
