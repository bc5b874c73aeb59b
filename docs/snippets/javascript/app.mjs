// A small command-line app that signs in to multitoken and uses its key,
// with Node's own fetch (Node 18 or later) and no other package.
//
// The book's page "Use it from your app" shows this file piece by piece, and
// tests/api/services/client_snippets.rs runs it against a live server:
//
//     export MULTITOKEN_URL=http://localhost:8000
//     node app.mjs sign-in alice laptop        # reads the password
//     node app.mjs whoami
//     node app.mjs devices
//     node app.mjs sign-out-device phone
//     node app.mjs logout

// ANCHOR: setup
import { closeSync, fchmodSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";

const BASE_URL = process.env.MULTITOKEN_URL || "http://localhost:8000";
const KEY_FILE =
  process.env.MULTITOKEN_KEY_FILE || join(homedir(), ".config", "example-app", "multitoken-key");
// The user sees it in their list of devices: name your app and its version.
// (A browser sends its own and ignores this one.)
const USER_AGENT = "example-app/1.0";

/** The server refused the username, password or client name. */
class SignInFailed extends Error {}

/** There is no usable key: the user has to sign in (again). */
class SignInNeeded extends Error {}
// ANCHOR_END: setup

// ANCHOR: request
/** One call to multitoken; a 429 or 503 is retried after Retry-After. */
async function request(method, path, { key, json } = {}) {
  const headers = { "User-Agent": USER_AGENT };
  if (key) headers.Authorization = `Token ${key}`;
  if (json !== undefined) headers["Content-Type"] = "application/json";
  for (let attempt = 1; ; attempt++) {
    const response = await fetch(BASE_URL + path, {
      method,
      headers,
      body: json === undefined ? undefined : JSON.stringify(json),
      signal: AbortSignal.timeout(10_000),
    });
    if (![429, 503].includes(response.status) || attempt === 3) return response;
    const wait = Number(response.headers.get("Retry-After") ?? "1");
    // Not a number of seconds, or too long to keep the user waiting: say so.
    if (!Number.isInteger(wait) || wait > 30) return response;
    console.error(`busy (${response.status}): retrying in ${wait} s`);
    await response.body?.cancel();
    await new Promise((resolve) => setTimeout(resolve, wait * 1000));
  }
}
// ANCHOR_END: request

// ANCHOR: sign_in
/** Signs this device in as `client` and returns its new key. */
async function signIn(username, password, client) {
  const response = await request("POST", "/login", {
    json: { username, password, client },
  });
  const body = await response.json();
  if (response.ok) return body.auth_token;
  // 403 and 429: {"detail": "..."}; 400: {"<field>": ["...", ...]}, where
  // a wrong username or password is a "non_field_errors" message, and a
  // missing two-factor code is an "otp" one.
  if (body.detail) throw new SignInFailed(body.detail);
  throw new SignInFailed(
    Object.entries(body)
      .flatMap(([field, messages]) =>
        messages.map((message) =>
          field === "non_field_errors" ? message : `${field}: ${message}`,
        ),
      )
      .join(" "),
  );
}
// ANCHOR_END: sign_in

// ANCHOR: store_key
/** Keeps the key in a file that only this user may read (mode 0600). */
function saveKey(key) {
  mkdirSync(dirname(KEY_FILE), { recursive: true, mode: 0o700 });
  const fd = openSync(KEY_FILE, "w", 0o600);
  try {
    fchmodSync(fd, 0o600); // the file may have been there before
    writeSync(fd, key);
  } finally {
    closeSync(fd);
  }
}

function loadKey() {
  try {
    return readFileSync(KEY_FILE, "utf8").trim() || null;
  } catch (error) {
    if (error.code === "ENOENT") return null;
    throw error;
  }
}

function forgetKey() {
  rmSync(KEY_FILE, { force: true });
}
// ANCHOR_END: store_key

// ANCHOR: call_api
/** A call with the stored key. A refused key is forgotten: sign in again. */
async function callApi(method, path, options = {}) {
  const key = loadKey();
  if (key === null) throw new SignInNeeded("Not signed in.");
  const response = await request(method, path, { ...options, key });
  // The key itself was refused (not the request): the header says so.
  const challenge = response.headers.get("WWW-Authenticate") ?? "";
  if (response.status === 401 && challenge.toLowerCase().startsWith("token")) {
    forgetKey();
    const { detail } = await response.json();
    if (detail === "Token has expired.") {
      throw new SignInNeeded("Your session has expired. Sign in again.");
    }
    // "Invalid token.": signed out from another device, by an admin, by a
    // password change or reset, or the key was never valid.
    throw new SignInNeeded("This device was signed out. Sign in again.");
  }
  return response;
}

/** Throws on an answer that is not a 2xx, with the server's `detail`. */
async function checked(response) {
  if (response.ok) return response;
  const body = await response.json().catch(() => ({}));
  throw new Error(`${response.status}: ${body.detail ?? response.statusText}`);
}

async function whoami() {
  return (await checked(await callApi("GET", "/whoami"))).json();
}
// ANCHOR_END: call_api

// ANCHOR: devices
/** The user's devices, most recently used first. */
async function devices() {
  return (await checked(await callApi("GET", "/tokens"))).json();
}

/** Signs out one device: its key stops working at once. False if none. */
async function signOutDevice(client) {
  const response = await callApi("DELETE", `/tokens/${encodeURIComponent(client)}`);
  if (response.status === 404) return false;
  await checked(response); // 204 No Content
  return true;
}
// ANCHOR_END: devices

// ANCHOR: log_out
/** Signs this device out, then forgets its key. */
async function logOut() {
  await checked(await callApi("POST", "/logout"));
  forgetKey();
}
// ANCHOR_END: log_out

// ANCHOR: main
async function main([command, ...args]) {
  try {
    if (command === "sign-in" && args.length === 2) {
      const [username, client] = args;
      // In your app: the sign-in form. Here: the first line of standard input.
      let password = "";
      for await (const line of createInterface({ input: process.stdin })) {
        password = line;
        break;
      }
      saveKey(await signIn(username, password, client));
      console.log(`signed in as ${username} on ${client}`);
    } else if (command === "whoami" && args.length === 0) {
      const me = await whoami();
      console.log(`${me.username} on ${me.client}`);
    } else if (command === "devices" && args.length === 0) {
      for (const device of await devices()) {
        const thisDevice = device.current ? "this device" : "";
        console.log(
          [device.client, thisDevice, device.last_used_at, device.user_agent ?? ""].join("\t"),
        );
      }
    } else if (command === "sign-out-device" && args.length === 1) {
      if (!(await signOutDevice(args[0]))) {
        console.error(`no device named ${args[0]}`);
        return 1;
      }
      console.log(`signed out ${args[0]}`);
    } else if (command === "logout" && args.length === 0) {
      await logOut();
      console.log("signed out of this device");
    } else {
      console.error("usage: node app.mjs sign-in USERNAME CLIENT | whoami | devices | sign-out-device CLIENT | logout");
      return 2;
    }
  } catch (error) {
    console.error(error.message);
    return 1;
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
// ANCHOR_END: main
