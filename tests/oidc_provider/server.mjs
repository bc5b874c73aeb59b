// A real OpenID Connect provider (panva's oidc-provider) for the social-login
// tests: `node server.mjs '<json>'` listens on 127.0.0.1:<port> and prints
// `issuer <url>` once it accepts connections. The JSON names:
//   port          the loopback port to listen on (the test picks a free one);
//   clients       [{client_id, client_secret, redirect_uris}], confidential
//                 clients of the code flow (PKCE required for every one);
//   users         {"<login>": {email, email_verified, preferred_username}}:
//                 whoever types <login> into the login form is that user,
//                 with sub = <login>;
//   id_token_ttl  seconds an ID token lives (default 600), short to mint
//                 expired ones;
//   fresh_keys    true: sign with an RSA key made now, with a kid of its own,
//                 instead of oidc-provider's development key (a provider
//                 restarted with it has rotated its keys).
// Its login and consent pages are oidc-provider's development interactions
// (any password is accepted), which is what the tests drive.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

const options = JSON.parse(process.argv[2] ?? '{}');
const port = Number(options.port);
if (!Number.isInteger(port) || port <= 0) {
  console.error('server.mjs: a port is required');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const users = options.users ?? {};
const freshKey = () => ({
  ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: randomUUID(),
  use: 'sig',
  alg: 'RS256',
});
const jwks = options.fresh_keys ? { jwks: { keys: [freshKey()] } } : {};

const provider = new Provider(issuer, {
  ...jwks,
  clients: (options.clients ?? []).map((client) => ({
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  pkce: { required: () => true },
  // The claims of the granted scopes go into the ID token of the code flow
  // too, as Google's do, not only through the userinfo endpoint.
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username'],
  },
  cookies: { keys: ['multitoken-tests-only-cookie-key'] },
  ttl: { IdToken: Number(options.id_token_ttl ?? 600) },
  async findAccount(_ctx, sub) {
    const user = users[sub] ?? {};
    return {
      accountId: sub,
      async claims() {
        return { sub, ...user };
      },
    };
  },
});
// Quiet: the tests read only the issuer line.
provider.on('server_error', (_ctx, error) => console.error('server_error', error));

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`issuer ${issuer}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
