"""A customer's profile state and what each interaction does to it (pure: no I/O).

    apply(state, interaction, now=, policy=) -> Applied(state, effects)

`apply` returns the new state and the *effects* the service carries out with I/O
(store evidence, delete evidence, invalidate an address, record a rejection). An
interaction whose properties are invalid yields exactly one `Reject` naming every
`(field, rule, message)` and changes nothing, not even the active hours (but a new customer's
entry into its first stage: the customer exists from its first event on, refused or not).

Event vocabulary (`interaction.type`; `t` = `occurred_at`, capped at `received_at`):

* `consent.changed` `{"purpose": "marketing"|"profiling_questionnaire"|"profiling_behaviour",
  "granted": bool, "channel"?: <channel, marketing only>}` - records `ConsentState(granted, t,
  source)` for the purpose or the marketing channel unless a newer decision is stored (see
  `consent`); a recorded `profiling_behaviour` withdrawal -> `DeleteBehaviouralEvidence("withdrawn")`.
* `consent.changed` `{"objection": true}` (GDPR Art. 21) - marketing (all channels) and both
  profiling purposes withdrawn at `t` -> `DeleteBehaviouralEvidence("objection")`, always.
* `profile.updated` `{"locale"?: "de-DE", "time_zone"?: "Europe/Berlin", "traits"?: {key: JSON}}` -
  BCP 47 locale (case-normalised) and IANA zone set, `null` clears; traits merged shallowly
  (a `null` value deletes its key), at most `MAX_TRAITS` keys and `MAX_TRAITS_BYTES`.
* `message.sent|delivered|opened|clicked|replied|failed|bounced|dismissed` - one more decayed
  count of that receipt on `interaction.channel`; and:
  - `message.bounced` `{"bounce": "hard", "reason"?: str, "address_sha256"?: hex}` ->
    `InvalidateAddress(channel, reason)`: the address with that SHA-256 only (one device token of
    several), else every address of the channel;
  - `message.opened|clicked|replied` `{"tone": "red"|"yellow"|"green"|"blue"}` ->
    `BehaviourSignal(tone, "engaged", t, base_rate)`, `message.dismissed` with a tone -> `"ignored"`;
    only if `profiling_behaviour` was granted at or before `t`, else nothing (no profiling without
    consent). `base_rate` is the customer's engagement rate on the channel before this receipt
    (`engagement.base_rate`), the baseline the estimate weighs the outcome against.
* `app.uninstalled` -> `InvalidateAddress(push, "app uninstalled")`.
* app presence: on channel `in_app`, `app.*` (not `app.uninstalled`), `inbox.*` and
  `message.read|opened|clicked|replied|dismissed` set `app_seen_at` (the newest wins): the
  customer opened the app or the inbox. In-app counts as reachable while that is at most
  `policy.in_app_presence_days` old, or while a device token is valid (`identity.keys`).
* `questionnaire.submitted` `{"instrument": "ipip50"|"colours24", "answers": {...}|[...]}` ->
  `QuestionnaireSubmitted(instrument, answers, t)` if `profiling_questionnaire` was granted at or
  before `t`, else `Reject` with rule `consent_required` (the service scores; this code does not).
* `lifecycle.moved` `{"stage": "<name>"}` - the customer moves into that stage of `policy.lifecycle`:
  forward always, back only into an `allow_back` stage, the stage it is in: nothing. An unknown
  stage (`enum`) or a refused backward move (`backward_not_allowed`) is a `Reject` naming
  `properties.stage`.
* any other type a stage's `enter_on` rule names (pattern, and condition over the event and the
  profile as this interaction left it before the move) - the customer moves into the furthest such
  stage it may enter (the same forward/back rule) -> `StageEntered`.
* a customer's first event, whatever it is, records its entry into its first stage
  (`stage_entered_at` is unset until then) -> `StageEntered(from_stage=None)`, before any
  move the same event makes.
* anything else - passes through: active hours only.

Active hours: every customer-initiated event adds 1 (decayed like engagement) to the bucket
of its local hour in the customer's time zone (UTC if unknown). Not customer-initiated:
`message.*` other than opened/clicked/replied/dismissed, and `app.uninstalled` (both are
reported by the platform or a provider at a time of their choosing), `lifecycle.moved`
(a journey or a CRM moved the customer), and anything a journey published (source `journey:<name>`).

Decay (see `engagement`): value and timestamp stored, `value * 2 ** (-age / half_life)`
on read and update, half-life `policy.engagement_half_life_days`.

Rules in `Reject` problems: `required`, `type`, `enum`, `unexpected_field`,
`objection_true`, `channel_marketing_only` (consent); `locale_format`, `time_zone_unknown`,
`max_length`, `trait_key`, `max_traits`, `max_bytes` (profile); `consent_required`
(questionnaire; field `consent.profiling_questionnaire`); `required`, `type`, `enum`,
`backward_not_allowed` (lifecycle.moved; field `properties.stage`).

Holdout: `assign_holdout(customer_id, share)` hashes the id into [0, 1); the service calls
it once when it creates a customer (`new_state`) and the stored flag is permanent.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Final, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, InstanceOf, JsonValue

from metaconnect_common.schemas.interaction import Channel, Interaction
from metaconnect_common.schemas.profiled import Purpose
from metaconnect_profile.config import ProfileSettings
from metaconnect_profile.lifecycles.moving import Refusal, explicit_target, rule_target
from metaconnect_profile.lifecycles.spec import DEFAULT_LIFECYCLE, MOVED, Lifecycle
from metaconnect_profile.personality.dimensions import Colour
from metaconnect_profile.personality.estimate import DEFAULT_PARAMETERS
from metaconnect_profile.personality.evidence import BehaviourEvidence, Outcome
from metaconnect_profile.personality.instruments import INSTRUMENT_NAMES
from metaconnect_profile.profiles.attributes import parse_profile_update
from metaconnect_profile.profiles.consent import (
    ConsentLedger,
    ObjectionRequest,
    Problem,
    granted_at,
    parse_change,
    record,
)
from metaconnect_profile.profiles.engagement import (
    EMPTY_HOURS,
    HOURS,
    SYSTEM_RECEIPTS,
    Decayed,
    Receipt,
    base_rate,
    count_active_hour,
    count_receipt,
)

MAX_REASON: Final = 200  # `identities.invalid_reason`
SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")
ENGAGED: Final = frozenset({Receipt.OPENED, Receipt.CLICKED, Receipt.REPLIED})
RECEIPTS: Final = frozenset(r.value for r in Receipt)
TONES: Final = frozenset(c.value for c in Colour)
QUESTIONNAIRE_SUBMITTED: Final = "questionnaire.submitted"


# --- effects: what the service must do with I/O ---------------------------------------------------------------


class _Effect(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reject(_Effect):
    """The interaction was refused: record `problems` (the profile is unchanged)."""

    kind: Literal["reject"] = "reject"
    problems: tuple[Problem, ...] = Field(min_length=1)
    instrument: str | None = Field(default=None, description="For a refused questionnaire.submitted.")


class DeleteBehaviouralEvidence(_Effect):
    """Delete every behavioural personality evidence row of the customer and recompute the estimate."""

    kind: Literal["delete_behavioural_evidence"] = "delete_behavioural_evidence"
    reason: Literal["objection", "withdrawn"]
    at: AwareDatetime


class InvalidateAddress(_Effect):
    """The customer's address (token, number, e-mail) for `channel` no longer reaches them: the one
    whose SHA-256 is `address_sha256` (one device token of several), or every one of the channel."""

    kind: Literal["invalidate_address"] = "invalidate_address"
    channel: Channel
    reason: Annotated[str, Field(min_length=1, max_length=MAX_REASON)]
    at: AwareDatetime
    address_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


class BehaviourSignal(_Effect):
    """Store one piece of behavioural evidence (consent was checked)."""

    kind: Literal["behaviour_signal"] = "behaviour_signal"
    tone: Colour
    outcome: Outcome
    observed_at: AwareDatetime
    base_rate: Annotated[float, Field(gt=0.0, lt=1.0)]

    def evidence(self) -> BehaviourEvidence:
        return BehaviourEvidence(
            tone=self.tone, outcome=self.outcome, observed_at=self.observed_at, base_rate=self.base_rate
        )


class QuestionnaireSubmitted(_Effect):
    """Score `answers` with `score_questionnaire(instrument, answers)` and store it (consent was checked)."""

    kind: Literal["questionnaire_submitted"] = "questionnaire_submitted"
    instrument: str
    answers: JsonValue
    observed_at: AwareDatetime


class StageEntered(_Effect):
    """The customer entered `to_stage` at `at`: record it in the stage history (`stage_changes`)."""

    kind: Literal["stage_entered"] = "stage_entered"
    from_stage: str | None = Field(description="None for a new customer's first stage.")
    to_stage: str
    backward: bool = False
    lifecycle_version: int
    at: AwareDatetime


Effect = Annotated[
    Reject | DeleteBehaviouralEvidence | InvalidateAddress | BehaviourSignal | QuestionnaireSubmitted | StageEntered,
    Field(discriminator="kind"),
]


# --- policy and state ------------------------------------------------------------------------------------------


class ProfilePolicy(BaseModel):
    """The settings `apply` and `to_snapshot` depend on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lifecycle: InstanceOf[Lifecycle] = Field(description="The current lifecycle version (`GET /v1/lifecycle`).")
    engagement_half_life_days: float = Field(gt=0)
    holdout_share: float = Field(ge=0.0, le=1.0)
    in_app_presence_days: float = Field(default=30.0, gt=0)

    @classmethod
    def from_settings(cls, settings: ProfileSettings, lifecycle: Lifecycle | None = None) -> ProfilePolicy:
        """The policy of the settings; `lifecycle` defaults to the default lifecycle (version 0), which
        the service replaces with the stored one for every batch (`LifecycleCatalog`)."""
        return cls(
            lifecycle=lifecycle or Lifecycle.compile(DEFAULT_LIFECYCLE, 0),
            engagement_half_life_days=settings.engagement_half_life_days,
            holdout_share=settings.holdout_share,
            in_app_presence_days=settings.in_app_presence_days,
        )

    @property
    def stages(self) -> tuple[str, ...]:
        return self.lifecycle.stages

    @property
    def half_life(self) -> timedelta:
        return timedelta(days=self.engagement_half_life_days)

    @property
    def in_app_presence(self) -> timedelta:
        return timedelta(days=self.in_app_presence_days)


class ProfileState(BaseModel):
    """Everything `apply` reads and writes: the Customer row's plain columns and JSON documents."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lifecycle_stage: str
    stage_entered_at: AwareDatetime | None = None
    """When the customer entered its stage; None for a new customer until its first event is applied."""
    locale: str | None = None
    time_zone: str | None = None
    holdout: bool = False
    traits: dict[str, JsonValue] = Field(default_factory=dict)
    consent: ConsentLedger = Field(default_factory=ConsentLedger)
    engagement: dict[Channel, dict[Receipt, Decayed]] = Field(default_factory=dict)
    active_hours: tuple[Decayed | None, ...] = Field(default=EMPTY_HOURS, min_length=HOURS, max_length=HOURS)
    app_seen_at: AwareDatetime | None = None
    """The customer was last in the app or its inbox (see `app_presence`)."""


class Applied(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    state: ProfileState
    effects: tuple[Effect, ...] = ()


def assign_holdout(customer_id: UUID, share: float) -> bool:
    """Whether the customer belongs to the permanent holdout: sha256 of the id -> [0, 1) < share."""
    digest = hashlib.sha256(b"metaconnect.holdout.v1:" + customer_id.bytes).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def new_state(customer_id: UUID, policy: ProfilePolicy) -> ProfileState:
    """A new customer's state: the first stage, and the holdout drawn once and for all."""
    return ProfileState(lifecycle_stage=policy.stages[0], holdout=assign_holdout(customer_id, policy.holdout_share))


# --- apply -----------------------------------------------------------------------------------------------------


def apply(state: ProfileState, interaction: Interaction, *, now: datetime, policy: ProfilePolicy) -> Applied:
    """The state after `interaction`, and the effects the service must carry out."""
    if state.stage_entered_at is not None:
        return _apply(state, interaction, now=now, policy=policy)
    when = min(interaction.occurred_at, interaction.received_at, now)
    entered = _enter(None, state.lifecycle_stage, when, policy)
    applied = _apply(state.model_copy(update={"stage_entered_at": when}), interaction, now=now, policy=policy)
    return Applied(state=applied.state, effects=(entered, *applied.effects))


def _apply(state: ProfileState, interaction: Interaction, *, now: datetime, policy: ProfilePolicy) -> Applied:
    when = min(interaction.occurred_at, interaction.received_at, now)
    kind = interaction.type
    props = interaction.properties
    effects: list[Effect] = []
    if kind == "consent.changed":
        change = parse_change(props)
        if isinstance(change, list):
            return Applied(state=state, effects=(Reject(problems=tuple(change)),))
        outcome = record(state.consent, change, at=when, source=interaction.source)
        if isinstance(change, ObjectionRequest):
            effects.append(DeleteBehaviouralEvidence(reason="objection", at=when))
        elif Purpose.PROFILING_BEHAVIOUR in outcome.withdrawn:
            effects.append(DeleteBehaviouralEvidence(reason="withdrawn", at=when))
        state = state.model_copy(update={"consent": outcome.ledger})
    elif kind == "profile.updated":
        update = parse_profile_update(state.traits, props)
        if isinstance(update, list):
            return Applied(state=state, effects=(Reject(problems=tuple(update)),))
        state = state.model_copy(update=update)
    elif kind == QUESTIONNAIRE_SUBMITTED:
        submitted = _questionnaire(state, props, when)
        if isinstance(submitted, Reject):
            return Applied(state=state, effects=(submitted,))
        effects.append(submitted)
    elif (receipt := _receipt(kind)) is not None:
        before = state.engagement.get(interaction.channel, {})
        baseline = base_rate(before, when, policy.half_life, DEFAULT_PARAMETERS.population_base_rate)
        engagement = count_receipt(state.engagement, interaction.channel, receipt, when, policy.half_life)
        state = state.model_copy(update={"engagement": engagement})
        effects.extend(_receipt_effects(state, interaction, receipt, when, baseline))
    elif kind == "app.uninstalled":
        effects.append(InvalidateAddress(channel=Channel.PUSH, reason="app uninstalled", at=when))

    if kind == MOVED:
        target = explicit_target(policy.lifecycle, state.lifecycle_stage, props.get("stage"))
        if isinstance(target, Refusal):
            problem = Problem("properties.stage", target.rule, target.message)
            return Applied(state=state, effects=(Reject(problems=(problem,)),))
    else:
        target = rule_target(policy.lifecycle, state, interaction, now)
    if target is not None:
        effects.append(_enter(state.lifecycle_stage, target, when, policy))
        state = state.model_copy(update={"lifecycle_stage": target, "stage_entered_at": when})
    if app_presence(interaction) and (state.app_seen_at is None or when > state.app_seen_at):
        state = state.model_copy(update={"app_seen_at": when})
    if _customer_initiated(kind) and not interaction.source.startswith(JOURNEY_SOURCE):
        hours = count_active_hour(state.active_hours, when, state.time_zone, policy.half_life)
        state = state.model_copy(update={"active_hours": hours})
    return Applied(state=state, effects=tuple(effects))


JOURNEY_SOURCE: Final = "journey:"
"""The source of what a journey's `update` step publishes (`journey:<name>`): not the customer's doing."""
APP_PRESENCE_RECEIPTS: Final = frozenset({"read", "opened", "clicked", "replied", "dismissed"})


def app_presence(interaction: Interaction) -> bool:
    """The customer showed up in the app or its inbox: a session, an inbox opened or a message read there."""
    if interaction.channel is not Channel.IN_APP:
        return False
    prefix, _, name = interaction.type.partition(".")
    if prefix == "app":
        return name != "uninstalled"
    return prefix == "inbox" or (prefix == "message" and name in APP_PRESENCE_RECEIPTS)


def _receipt(kind: str) -> Receipt | None:
    prefix, _, name = kind.partition(".")
    if prefix != "message" or name not in RECEIPTS:
        return None
    return Receipt(name)


def _customer_initiated(kind: str) -> bool:
    if kind in ("app.uninstalled", MOVED):
        return False
    if kind.startswith("message."):
        receipt = _receipt(kind)
        return receipt is not None and receipt not in SYSTEM_RECEIPTS
    return True


def _receipt_effects(
    state: ProfileState, interaction: Interaction, receipt: Receipt, when: datetime, baseline: float
) -> list[Effect]:
    props = interaction.properties
    effects: list[Effect] = []
    if receipt is Receipt.BOUNCED and props.get("bounce") == "hard":
        detail = props.get("reason")
        reason = f"hard bounce: {detail}" if isinstance(detail, str) and detail else "hard bounce"
        hashed = props.get("address_sha256")
        one = hashed if isinstance(hashed, str) and SHA256_HEX.fullmatch(hashed) else None
        effects.append(
            InvalidateAddress(channel=interaction.channel, reason=reason[:MAX_REASON], at=when, address_sha256=one)
        )
    tone = props.get("tone")
    if (
        (receipt in ENGAGED or receipt is Receipt.DISMISSED)
        and isinstance(tone, str)
        and tone in TONES
        and granted_at(state.consent, Purpose.PROFILING_BEHAVIOUR, when)
    ):
        outcome = Outcome.ENGAGED if receipt in ENGAGED else Outcome.IGNORED
        effects.append(BehaviourSignal(tone=Colour(tone), outcome=outcome, observed_at=when, base_rate=baseline))
    return effects


def _enter(from_stage: str | None, to_stage: str, when: datetime, policy: ProfilePolicy) -> StageEntered:
    lifecycle = policy.lifecycle
    backward = from_stage is not None and lifecycle.rank(to_stage) < lifecycle.rank(from_stage)
    return StageEntered(
        from_stage=from_stage, to_stage=to_stage, backward=backward, lifecycle_version=lifecycle.version, at=when
    )


def _questionnaire(state: ProfileState, props: Mapping[str, Any], when: datetime) -> QuestionnaireSubmitted | Reject:
    instrument = props.get("instrument")
    named = instrument[:64] if isinstance(instrument, str) else None  # `rejections.instrument`
    if not granted_at(state.consent, Purpose.PROFILING_QUESTIONNAIRE, when):
        problem = Problem(
            "consent.profiling_questionnaire",
            "consent_required",
            "profiling_questionnaire consent was not granted when the questionnaire was submitted",
        )
        return Reject(problems=(problem,), instrument=named)
    problems: list[Problem] = []
    if instrument is None:
        problems.append(Problem("properties.instrument", "required", "instrument is required"))
    elif named not in INSTRUMENT_NAMES:
        problems.append(Problem("properties.instrument", "enum", f"instrument must be one of {list(INSTRUMENT_NAMES)}"))
    answers = props.get("answers")
    if answers is None:
        problems.append(Problem("properties.answers", "required", "answers are required"))
    elif not isinstance(answers, dict | list):
        problems.append(Problem("properties.answers", "type", "answers must be an object or a list"))
    if problems or named is None:
        return Reject(problems=tuple(problems), instrument=named)
    return QuestionnaireSubmitted(instrument=named, answers=answers, observed_at=when)
