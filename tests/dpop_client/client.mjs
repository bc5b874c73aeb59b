// A device as a real client writes one, with panva's `dpop`: a key pair of
// the given algorithm, a sign-in to multitoken with a proof (which binds the
// key issued), then uses of that key with a proof each: /whoami at
// multitoken, and the app behind a reverse proxy (nginx or Caddy) that asks
// multitoken's /auth/verify. Prints what each step answered, as JSON, for
// tests/api/services/dpop_proxies.rs to check.
//
// node client.mjs MULTITOKEN_URL PROXY_URL USERNAME PASSWORD ALG
import * as DPoP from 'dpop';

const [multitoken, proxy, username, password, alg] = process.argv.slice(2);

async function answer(response) {
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return {
    status: response.status,
    www_authenticate: response.headers.get('www-authenticate'),
    body,
  };
}

const keypair = await DPoP.generateKeyPair(alg);
const jkt = await DPoP.calculateThumbprint(keypair.publicKey);

const loginUrl = `${multitoken}/login`;
const login = await answer(await fetch(loginUrl, {
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    dpop: await DPoP.generateProof(keypair, loginUrl, 'POST'),
  },
  body: JSON.stringify({ username, password, client: `cli-${alg}` }),
}));
const key = login.body.auth_token;

async function use(url, method, scheme, withProof) {
  const headers = { authorization: `${scheme} ${key}` };
  if (withProof) {
    // htu is the URL without its query (RFC 9449 section 4.2).
    const htu = url.split('?')[0];
    headers.dpop = await DPoP.generateProof(keypair, htu, method, undefined, key);
  }
  return answer(await fetch(url, { method, headers }));
}

const whoami = await use(`${multitoken}/whoami`, 'GET', 'DPoP', true);
const proxied = await use(`${proxy}/orders/7?expand=lines`, 'DELETE', 'DPoP', true);
const asBearer = await use(`${proxy}/orders/7`, 'GET', 'Bearer', false);

console.log(JSON.stringify({ jkt, key, login, whoami, proxied, as_bearer: asBearer }));
