// A device that signs in with the OAuth device grant, driven by oauth4webapi
// (tests/api/auth/device_grant.rs runs it): discovery from the RFC 8414
// metadata, device authorization, polling as RFC 8628 says (slow_down adds
// 5 s to the interval), then the key at /whoami.
//
//   node client.mjs ISSUER CLIENT_ID [SCOPE [RESOURCE_URL]]
//
// Prints one JSON line with the codes for the person (user_code,
// verification_uri_complete), and once signed in one with the outcome
// ({"whoami", "polls", "slow_downs", "token_type", "scope"}, and with a
// RESOURCE_URL, "resource": the status and JSON body of a GET of it with
// the key, as through a reverse proxy's auth_request). The first two
// polls go out back to back, as an impatient device's would, so that the
// server's slow_down and this client's handling of it are both exercised.
import * as oauth from "oauth4webapi";

const [issuerText, clientId, scope, resourceUrl] = process.argv.slice(2);
const issuer = new URL(issuerText);
const insecure = { [oauth.allowInsecureRequests]: issuer.protocol === "http:" };

const as = await oauth
  .discoveryRequest(issuer, { algorithm: "oauth2", ...insecure })
  .then((response) => oauth.processDiscoveryResponse(issuer, response));
const client = { client_id: clientId };
const auth = oauth.None();

const parameters = new URLSearchParams();
if (scope) parameters.set("scope", scope);
const codes = await oauth.processDeviceAuthorizationResponse(
  as,
  client,
  await oauth.deviceAuthorizationRequest(as, client, auth, parameters, insecure),
);
console.log(JSON.stringify({
  user_code: codes.user_code,
  verification_uri_complete: codes.verification_uri_complete,
}));

let interval = codes.interval ?? 5;
let polls = 0;
let slowDowns = 0;
let tokens;
while (!tokens) {
  if (polls > 1) await new Promise((resolve) => setTimeout(resolve, interval * 1000));
  polls += 1;
  try {
    tokens = await oauth.processDeviceCodeResponse(
      as,
      client,
      await oauth.deviceCodeGrantRequest(as, client, auth, codes.device_code, insecure),
    );
  } catch (error) {
    if (!(error instanceof oauth.ResponseBodyError)) throw error;
    if (error.error === "slow_down") {
      slowDowns += 1;
      interval += 5;
    } else if (error.error !== "authorization_pending") {
      console.log(JSON.stringify({ error: error.error }));
      process.exit(2);
    }
  }
}

const whoami = await oauth.protectedResourceRequest(
  tokens.access_token,
  "GET",
  new URL(`${as.issuer}/whoami`),
  undefined,
  undefined,
  insecure,
);
let resource;
if (resourceUrl) {
  const answer = await oauth.protectedResourceRequest(
    tokens.access_token,
    "GET",
    new URL(resourceUrl),
    undefined,
    undefined,
    insecure,
  );
  resource = { status: answer.status, body: await answer.json() };
}
console.log(JSON.stringify({
  resource,
  whoami: await whoami.json(),
  polls,
  slow_downs: slowDowns,
  token_type: tokens.token_type,
  scope: tokens.scope ?? null,
}));
