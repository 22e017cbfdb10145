"""`GET /v1/questionnaires/{name}?lang=de`: the items to present, never the scoring key.

Public: a channel app shows the questionnaire to its customer without operator rights.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from metaconnect_common.errors import ERROR_RESPONSES, ApiError
from metaconnect_common.http import StrictQueryRoute
from metaconnect_profile.personality import (
    INSTRUMENT_NAMES,
    ForcedChoiceQuestionnaire,
    RatingQuestionnaire,
    UnknownInstrumentError,
    questionnaire,
)

router = APIRouter(
    route_class=StrictQueryRoute, prefix="/v1/questionnaires", tags=["questionnaires"], responses=ERROR_RESPONSES
)


@router.get("", summary="The questionnaires Metaconnect ships")
async def list_questionnaires() -> list[str]:
    return sorted(INSTRUMENT_NAMES)


@router.get(
    "/{name}",
    summary="One questionnaire in a language",
    description=(
        "Items (IPIP-50: rate 1-5) or groups (colour form: pick `most` and `least` like you per group) with "
        "their ids, texts, source and licence. Answers go back through ingest as a `questionnaire.submitted` "
        'interaction: `{"instrument": "ipip50", "answers": {"E1": 4, ...}}` or '
        '`{"instrument": "colours24", "answers": [{"group": "g01", "most": "...", "least": "..."}]}`.'
    ),
)
async def get_questionnaire(
    name: Annotated[str, Path(examples=["ipip50", "colours24"])],
    lang: Annotated[Literal["en", "de"], Query(description="Language of the texts.")] = "en",
) -> RatingQuestionnaire | ForcedChoiceQuestionnaire:
    try:
        return questionnaire(name, lang)
    except UnknownInstrumentError:
        raise ApiError(404, "not_found", f"no questionnaire {name!r}; try one of {sorted(INSTRUMENT_NAMES)}") from None
