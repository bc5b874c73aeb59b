// The command-line side of the device grant, as the book's page "Sign in a
// CLI or a TV" shows it (the part between the ANCHOR lines);
// tests/api/services/guide_samples.rs runs it against a live server, with
// MULTITOKEN_URL saying where that is.

// ANCHOR: sample
import * as oauth from "oauth4webapi";

const issuer = new URL(process.env.MULTITOKEN_URL ?? "https://auth.example.com");
// Plain http:// only in development; oauth4webapi refuses it otherwise.
const options = { [oauth.allowInsecureRequests]: issuer.protocol === "http:" };
const as = await oauth
  .discoveryRequest(issuer, { algorithm: "oauth2", ...options })
  .then((response) => oauth.processDiscoveryResponse(issuer, response));
const client = { client_id: "my-cli" };
const auth = oauth.None();

const codes = await oauth.processDeviceAuthorizationResponse(as, client,
  await oauth.deviceAuthorizationRequest(as, client, auth, new URLSearchParams({ scope: "orders:read" }), options));
console.log(`Open ${codes.verification_uri} and enter ${codes.user_code}`);

let interval = codes.interval;
let tokens;
while (!tokens) {
  await new Promise((resolve) => setTimeout(resolve, interval * 1000));
  try {
    tokens = await oauth.processDeviceCodeResponse(as, client,
      await oauth.deviceCodeGrantRequest(as, client, auth, codes.device_code, options));
  } catch (error) {
    if (error.error === "slow_down") interval += 5;
    else if (error.error !== "authorization_pending") throw error;
  }
}
const key = tokens.access_token;
const me = await fetch(new URL("/whoami", issuer), { headers: { authorization: `Bearer ${key}` } });
console.log(await me.json());
// ANCHOR_END: sample
