// A program written against the client that openapi-typescript generates
// from the live /openapi.json (schema.d.ts beside this file once copied into
// a run's folder), calling through openapi-fetch; type-checked by tsc
// against that schema, then run by tests/api/services/generated_clients.rs:
//
//   node driver.js BASE_URL USERNAME PASSWORD CLIENT OTHER_CLIENT OTHER_KEY
//
// Logs in as CLIENT, lists the devices, revokes OTHER_CLIENT, lists them
// again, and asks /whoami with OTHER_KEY (the revoked device's key). Prints
// one JSON line with what it saw, the same shape as driver.py's.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type Device = components["schemas"]["DeviceView"];

const [baseUrl, username, password, client, otherClient, otherKey] = process.argv.slice(2);
if (!baseUrl || !username || !password || !client || !otherClient || !otherKey) {
  throw new Error("usage: driver.js BASE_URL USERNAME PASSWORD CLIENT OTHER_CLIENT OTHER_KEY");
}
const api = createClient<paths>({ baseUrl });

const login = await api.POST("/login", { body: { username, password, client } });
if (!login.data) {
  throw new Error(`login: ${login.response.status} ${JSON.stringify(login.error)}`);
}
const signedIn = { headers: { Authorization: `Token ${login.data.auth_token}` } };

const devices = async (): Promise<{ client: string; current: boolean | null }[]> => {
  const listed = await api.GET("/tokens", signedIn);
  if (!listed.data) {
    throw new Error(`list_devices: ${listed.response.status} ${JSON.stringify(listed.error)}`);
  }
  return listed.data
    .map((device: Device) => ({ client: device.client, current: device.current ?? null }))
    .sort((a, b) => a.client.localeCompare(b.client));
};

const before = await devices();
const revoked = await api.DELETE("/tokens/{client}", {
  ...signedIn,
  params: { path: { client: otherClient } },
});
const after = await devices();
const refused = await api.GET("/whoami", {
  headers: { Authorization: `Token ${otherKey}` },
});

console.log(
  JSON.stringify({
    client: login.data.client,
    before,
    revoke_status: revoked.response.status,
    after,
    revoked_key: { status: refused.response.status, detail: refused.error?.detail ?? null },
  }),
);
