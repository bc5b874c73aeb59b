// Better Auth with its API-key plugin on PostgreSQL: the peer that
// benches/peers/run.py measures. Three commands, each reading DATABASE_URL:
//   node server.mjs migrate              Better Auth's own schema
//   node server.mjs seed USERS OUT PASS  USERS users x 3 API keys; OUT gets
//                                        "key<TAB>email" lines
//   node server.mjs serve PORT           HTTP on 127.0.0.1:PORT, one worker
//                                        per core (node:cluster), as gunicorn
//                                        and multitoken use every core
import cluster from "node:cluster";
import { writeFileSync } from "node:fs";
import http from "node:http";
import { availableParallelism } from "node:os";
import { apiKey } from "@better-auth/api-key";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import pg from "pg";

const KEYS_PER_USER = 3;

function options(port) {
  return {
    // A database of its own, created and dropped by run.py.
    database: new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 }),
    baseURL: `http://127.0.0.1:${port ?? 3000}`,
    secret: "benchmark secret, loopback only, 32+ characters",
    emailAndPassword: { enabled: true },
    // The benchmark sends thousands of requests a second from one address;
    // the other peers have no rate limit in the way either.
    rateLimit: { enabled: false },
    telemetry: { enabled: false },
    plugins: [
      apiKey({
        // GET /api/auth/get-session with `x-api-key` answers the key's user:
        // the cheapest authenticated request that returns the user.
        enableSessionForAPIKeys: true,
        rateLimit: { enabled: false },
      }),
    ],
  };
}

async function migrate() {
  const { runMigrations } = await getMigrations(options());
  await runMigrations();
}

// Users as rows through Better Auth's internal adapter (sign-up's own
// writes) with one hash of the password made by Better Auth's hasher, as the
// other peers are seeded: one sign-up per user would spend minutes hashing.
// Keys through the plugin's server API, one call each.
async function seed(users, out, password) {
  const auth = betterAuth(options());
  const context = await auth.$context;
  const hash = await context.password.hash(password);
  const lines = [];
  for (let i = 1; i <= users; i++) {
    const name = `user${String(i).padStart(6, "0")}`;
    const email = `${name}@example.com`;
    const user = await context.internalAdapter.createUser({ name, email, emailVerified: true });
    await context.internalAdapter.linkAccount({
      userId: user.id,
      providerId: "credential",
      accountId: user.id,
      password: hash,
    });
    for (let k = 0; k < KEYS_PER_USER; k++) {
      const key = await auth.api.createApiKey({ body: { userId: user.id, name: `key${k}` } });
      lines.push(`${key.key}\t${email}\t${key.id}`);
    }
  }
  writeFileSync(out, lines.join("\n") + "\n");
  await context.options.database.end?.();
}

// Better Auth answers fetch Requests; the body is buffered and sent with a
// Content-Length (the load generator reads no chunked bodies).
function serve(port) {
  const auth = betterAuth(options(port));
  const server = http.createServer(async (req, res) => {
    try {
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      const hasBody = req.method !== "GET" && req.method !== "HEAD";
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) {
        headers.set(name, Array.isArray(value) ? value.join(", ") : value);
      }
      const request = new Request(`http://127.0.0.1:${port}${req.url}`, {
        method: req.method,
        headers,
        body: hasBody ? Buffer.concat(chunks) : undefined,
      });
      const response = await auth.handler(request);
      const body = Buffer.from(await response.arrayBuffer());
      const out = {};
      response.headers.forEach((value, name) => {
        if (name !== "set-cookie" && name !== "content-length") out[name] = value;
      });
      const cookies = response.headers.getSetCookie();
      if (cookies.length) out["set-cookie"] = cookies;
      out["content-length"] = body.length;
      res.writeHead(response.status, out);
      res.end(body);
    } catch (error) {
      console.error(error);
      res.writeHead(500, { "content-length": 0 });
      res.end();
    }
  });
  server.keepAliveTimeout = 60_000;
  server.listen(port, "127.0.0.1");
}

const [command, ...args] = process.argv.slice(2);
if (command === "migrate") {
  await migrate();
  process.exit(0);
} else if (command === "seed") {
  await seed(Number(args[0]), args[1], args[2]);
  process.exit(0);
} else if (command === "serve") {
  const workers = Number(process.env.WORKERS || availableParallelism());
  if (cluster.isPrimary && workers > 1) {
    for (let i = 0; i < workers; i++) cluster.fork();
    // One worker dying stops the peer: a benchmark must not go on half-served.
    cluster.on("exit", () => process.exit(1));
    for (const signal of ["SIGTERM", "SIGINT"]) {
      process.on(signal, () => {
        for (const worker of Object.values(cluster.workers)) worker.process.kill("SIGKILL");
        process.exit(0);
      });
    }
  } else {
    serve(Number(args[0]));
  }
} else {
  console.error("usage: node server.mjs migrate | seed USERS OUT PASSWORD | serve PORT");
  process.exit(2);
}
