"""Checks a delivery's Standard Webhooks signature with the `standardwebhooks`
package from PyPI, not Obol's code. Reads {"headers": {...}, "body": "..."}
on stdin and the secret as argv[1]; prints "valid" or "invalid".

A delivery made near real time goes through the library's own `verify`
(which also checks the timestamp against real time, 5 minutes either way);
one stamped by a test clock moved days ahead is checked against the
library's `sign` for its own timestamp, each signature of the header."""

import hmac
import json
import sys
import time
from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

secret = sys.argv[1]
request = json.load(sys.stdin)
headers = request["headers"]
body = request["body"]
webhook = Webhook(secret)
timestamp = int(headers["webhook-timestamp"])
if abs(timestamp - time.time()) < 300:
    try:
        webhook.verify(body, headers)
        print("valid")
    except WebhookVerificationError:
        print("invalid")
else:
    expected = webhook.sign(
        headers["webhook-id"], datetime.fromtimestamp(timestamp, tz=timezone.utc), body
    )
    given = headers["webhook-signature"].split(" ")
    print("valid" if any(hmac.compare_digest(expected, s) for s in given) else "invalid")
