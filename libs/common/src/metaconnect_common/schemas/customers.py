"""`mc.customers.v1`: which customer an identifier names now.

Keyed by the identifier's canonical ref (`cid:c-1042`, `email:ada@example.com`,
`phone:+4915112345678`, `ext:crm:C-7`) or `id:<uuid>` for a customer's own id and for the id
of a customer merged into another; device tokens are never keys (they are credentials).
The profile service writes a record when an identifier is attached to a customer or moves to
the survivor of a merge, and a tombstone (no value) when the customer is erased. The topic is
compacted, so a consumer that reads it from the start knows every live identifier.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from metaconnect_common.kafka.producer import OutgoingRecord
from metaconnect_common.topics import CUSTOMERS


class CustomerRefRecord(BaseModel):
    """The value of an `mc.customers.v1` record: the customer its key names."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: Literal[1] = 1
    customer_id: uuid.UUID = Field(description="The live customer the key's identifier names.")


def customer_ref_record(ref: str, customer_id: uuid.UUID | None) -> OutgoingRecord:
    """The record saying `ref` names `customer_id`, or a tombstone forgetting `ref` (None)."""
    value = None if customer_id is None else CustomerRefRecord(customer_id=customer_id).model_dump_json().encode()
    return OutgoingRecord(topic=CUSTOMERS, key=ref.encode(), value=value)
