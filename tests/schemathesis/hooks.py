"""Schemathesis hooks of the run in tests/schemathesis.rs (loaded through SCHEMATHESIS_HOOKS).

A schema states the shape of a request, not what it may refer to. Where a request names something
that must already exist, or must not have been used before, and the API refuses it otherwise
(422), generated values of the right shape are replaced with ones that meet that condition.
Values of the wrong shape stay as generated, to be refused.
"""

import os
import re
import uuid

import schemathesis

# What the API accepts as an Idempotency-Key (`parse_key` in api/src/idempotency.rs).
VALID_KEY = re.compile(r"[ -~]{1,255}")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# A ticket that exists, other than the one the run works on.
RELATED_TICKET = os.environ["SUPPORTD_RELATED_TICKET"]


@schemathesis.hook
def map_case(context, case):
    # A client makes up a new key for every request it means to make once; a key reused for
    # another request is refused. Generated keys come from a small space ("0", "00", ...).
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and VALID_KEY.fullmatch(key):
        case.headers["Idempotency-Key"] = str(uuid.uuid4())
    # Related tickets must exist.
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("relatedTickets"), list):
        body["relatedTickets"] = [
            RELATED_TICKET if isinstance(item, str) and UUID.fullmatch(item) else item
            for item in body["relatedTickets"]
        ]
    return case
