"""Verifies webhooks as a receiving service would, with PyPI's Standard
Webhooks library: reads [{"headers": {...}, "body": "..."}] on standard
input, the secret from WEBHOOK_SECRET; prints each verified payload's JSON,
one a line, or fails on the first that does not verify."""

import json
import os
import sys

from standardwebhooks.webhooks import Webhook

webhook = Webhook(os.environ["WEBHOOK_SECRET"])
for message in json.load(sys.stdin):
    payload = webhook.verify(message["body"], message["headers"])
    print(json.dumps(payload))
