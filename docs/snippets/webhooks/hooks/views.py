# The book's page "Drop a revoked device's JWTs at once: webhooks" shows this
# file from its ANCHOR line; tests/api/services/guide_samples.rs serves it in
# the Django project of tests/resource_server/ and sends it real webhooks.
# ANCHOR: views
# hooks/views.py
from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

webhook = Webhook(settings.MULTITOKEN_WEBHOOK_SECRET)  # the whsec_… value
ACCESS_TOKEN_LIFETIME = 300  # seconds: multitoken's ACCESS_TOKEN_LIFETIME


@csrf_exempt
@require_POST
def multitoken_events(request):
    try:
        message = webhook.verify(request.body, dict(request.headers))
    except WebhookVerificationError:
        return HttpResponseBadRequest()
    event = message["data"]
    if message["type"] in ("logout", "revoked", "rotated") and event["sid"]:
        # Its JWTs all expire within ACCESS_TOKEN_LIFETIME: no need to remember longer.
        cache.set(f"revoked-sid:{event['sid']}", True, ACCESS_TOKEN_LIFETIME)
    return HttpResponse(status=204)
# ANCHOR_END: views
