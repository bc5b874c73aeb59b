# The Django settings of the book's page "Short-lived JWTs for your
# services" (the part between the ANCHOR lines). The Django project of
# tests/resource_server/ loads them, with the test server's JWKS URL, issuer
# and audience in place of these, and tests/api/services/jwt_verifiers.rs
# runs it.
# ANCHOR: settings
SIMPLE_JWT = {
    "ALGORITHM": "ES256",
    "JWK_URL": "https://auth.example.com/.well-known/jwks.json",
    "ISSUER": "https://auth.example.com",   # as JWT_ISSUER
    "AUDIENCE": "orders",                   # as JWT_AUDIENCE
    "USER_ID_CLAIM": "user_id",
    "LEEWAY": 0,
}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTStatelessUserAuthentication",
    ],
}
# ANCHOR_END: settings
