// A command-line tool's use of a key bound to its device, as the book's
// page "Binding keys to devices" shows it (the part between the ANCHOR
// lines); tests/api/services/guide_samples.rs runs it against a live
// server: MULTITOKEN_URL says where, and the password comes on standard
// input.
//
//   node dpop_cli.mjs USERNAME < password
import { readFileSync } from 'node:fs';

const base = process.env.MULTITOKEN_URL ?? 'https://auth.example.com';
const username = process.argv[2];
const password = readFileSync(0, 'utf8').trim();

// ANCHOR: sample
import * as DPoP from 'dpop';

// Once: keep the key pair (e.g. extractable, saved as a JWK in a file
// readable by the user only, next to the device key).
const keypair = await DPoP.generateKeyPair('ES256', { extractable: true });

const loginUrl = `${base}/login`;
const login = await fetch(loginUrl, {
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    dpop: await DPoP.generateProof(keypair, loginUrl, 'POST'),
  },
  body: JSON.stringify({ username, password, client: 'cli' }),
}).then((response) => response.json());
// login.token_type === 'DPoP'
const key = login.auth_token;

// Every request: a new proof naming the method, the URL and the key.
const url = `${base}/whoami`;
const me = await fetch(url, {
  headers: {
    authorization: `DPoP ${key}`,
    dpop: await DPoP.generateProof(keypair, url, 'GET', undefined, key),
  },
});
// ANCHOR_END: sample

console.log(login.token_type, me.status, JSON.stringify(await me.json()));
