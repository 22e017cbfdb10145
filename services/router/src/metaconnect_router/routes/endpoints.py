"""Marketing ops manage routes (operator tokens: viewer reads, editor writes)."""

from __future__ import annotations

from typing import Any

from metaconnect_router.deps import route_service
from metaconnect_router.routes.schemas import ROUTE_ANSWERS
from metaconnect_router.routes.service import ROUTES
from metaconnect_router.versioned_endpoints import versioned_router

EXAMPLE: dict[str, Any] = {
    "name": "cart-reminder",
    "description": "Remind customers of what they left in the cart.",
    "status": "active",
    "trigger": {
        "event_types": ["cart.abandoned"],
        "condition": 'event.properties.value >= 20 and profile.lifecycle_stage in ["customer", "loyal"]',
    },
    "messages": [
        {
            "id": "cart-left",
            "priority": 60,
            "category": "marketing",
            "collapse_key": "cart",
            "expires_after": "P1D",
            "channels": ["push", "email"],
            "variants": {
                "neutral": {
                    "push": {"en": {"title": "Your cart", "body": "Your items are waiting."}},
                    "email": {"en": {"subject": "Your cart", "body": "Your items are waiting for you."}},
                },
                "red": {
                    "push": {"en": {"title": "Finish in one tap", "body": "Check out now."}},
                    "email": {"en": {"subject": "Finish your order", "body": "One step left: check out now."}},
                },
            },
        }
    ],
    "policy": {
        "bundle_window": "PT30M",
        "bundle_max_items": 5,
        "cap_overall": {"count": 3, "per": "P1D"},
        "quiet_hours": {"start": "21:00", "end": "08:00"},
    },
}
router = versioned_router(ROUTES, ROUTE_ANSWERS, route_service, example=EXAMPLE, tag="routes")
