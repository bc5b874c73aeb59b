// The Express receiver of the book's page "Drop a revoked device's JWTs at
// once: webhooks" (the part between the ANCHOR lines);
// tests/api/services/guide_samples.rs runs it with MULTITOKEN_URL and
// MULTITOKEN_WEBHOOK_SECRET set, and PORT for the route below the sample.

// ANCHOR: sample
import express from "express";
import { Webhook } from "standardwebhooks";
import { createRemoteJWKSet, jwtVerify } from "jose";

const MULTITOKEN_URL = process.env.MULTITOKEN_URL ?? "https://auth.example.com";
const webhook = new Webhook(process.env.MULTITOKEN_WEBHOOK_SECRET); // whsec_…
const ACCESS_TOKEN_LIFETIME_MS = 5 * 60 * 1000;
const endedSids = new Map(); // sid -> forget after

const app = express();

// The raw body, as signed: no JSON parser on this route.
app.post("/hooks/multitoken", express.text({ type: "application/json" }), (req, res) => {
  let message;
  try {
    message = webhook.verify(req.body, req.headers);
  } catch {
    return res.sendStatus(400);
  }
  const { type, data } = message;
  if (["logout", "revoked", "rotated"].includes(type) && data.sid) {
    endedSids.set(data.sid, Date.now() + ACCESS_TOKEN_LIFETIME_MS);
  }
  res.sendStatus(204);
});

const jwks = createRemoteJWKSet(new URL(`${MULTITOKEN_URL}/.well-known/jwks.json`));

export async function authenticate(req, res, next) {
  const token = (req.get("authorization") ?? "").replace(/^Bearer /, "");
  try {
    const { payload } = await jwtVerify(token, jwks, { algorithms: ["ES256"] });
    const until = endedSids.get(payload.sid);
    if (until && until > Date.now()) return res.sendStatus(401);
    req.user = payload;
    next();
  } catch {
    res.sendStatus(401);
  }
}
// ANCHOR_END: sample

// An API route behind it, for the test; the port, once listening, on
// standard output.
app.get("/orders", authenticate, (req, res) => res.json({ client: req.user.client }));
const server = app.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  console.log(server.address().port);
});
