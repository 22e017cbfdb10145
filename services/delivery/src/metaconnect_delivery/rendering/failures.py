"""Why a delivery could not be rendered: a reason code the service fails the delivery with."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from metaconnect_common.templates import TemplateFailure as CommonTemplateFailure


class Reason(StrEnum):
    """A `metaconnect_common.templates.TemplateReason` (same values) or a reason of the layout."""

    TEMPLATE_SYNTAX = "template_syntax"
    TEMPLATE_UNKNOWN_NAME = "template_unknown_name"
    TEMPLATE_UNDEFINED = "template_undefined"
    """A variable or attribute the template uses is missing (`StrictUndefined`)."""
    TEMPLATE_SECURITY = "template_security"
    """An attribute, call or statement the sandbox refuses."""
    TEMPLATE_TOO_LARGE = "template_too_large"
    """The source, the output or a value built on the way exceeds its cap."""
    TEMPLATE_TOO_COMPLEX = "template_too_complex"
    """The template ran out of steps (loop iterations, calls, operators) or recursed too deep."""
    TEMPLATE_RUNTIME = "template_runtime"
    """Any other error while rendering (a type error, a division by zero, ...)."""
    NO_CONTENT_FOR_CHANNEL = "no_content_for_channel"
    EMPTY_BODY = "empty_body"
    INVALID_ACTION_URL = "invalid_action_url"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_CHANNEL = "unsupported_channel"


class RenderFailure(Exception):
    """The delivery cannot be rendered for the channel; fail it with `reason`.

    `message` is for operators: it names the item, the field and the template line, and never
    echoes a variable's value (event data may be personal data).
    """

    def __init__(
        self,
        reason: Reason,
        message: str,
        *,
        item_id: UUID | None = None,
        field: str | None = None,
        variable: str | None = None,
    ) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.item_id = item_id
        self.field = field
        self.variable = variable
        """The template variable that was missing, as the template spells it (`data.price`)."""

    def for_item(self, item_id: UUID, field: str) -> RenderFailure:
        """The same failure, attributed to one item's field (same class)."""
        return type(self)(
            self.reason, f"item {item_id} {field}: {self.message}", item_id=item_id, field=field, variable=self.variable
        )


class TemplateFailure(RenderFailure):
    """A template did not render: bad syntax, a missing variable, a sandbox refusal, a cap hit."""

    @classmethod
    def of(cls, failure: CommonTemplateFailure) -> TemplateFailure:
        """The sandbox's failure as a rendering failure with the same reason."""
        return cls(Reason(failure.reason.value), failure.message, variable=failure.variable)


class NothingRendered(RenderFailure):
    """No item of the delivery could render: the first item's failure, with every item's in `dropped`."""

    def __init__(self, dropped: tuple[RenderFailure, ...]) -> None:
        first = dropped[0]
        super().__init__(first.reason, first.message, item_id=first.item_id, field=first.field, variable=first.variable)
        self.dropped = dropped
