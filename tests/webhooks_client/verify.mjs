// Verifies webhooks as a receiving service would, with the npm Standard
// Webhooks library: reads [{"headers": {...}, "body": "..."}] on standard
// input, the secret from WEBHOOK_SECRET; prints each verified payload's
// JSON, one a line, or fails on the first that does not verify.
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const { Webhook } = require("standardwebhooks");

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const messages = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const webhook = new Webhook(process.env.WEBHOOK_SECRET);
for (const { headers, body } of messages) {
  const payload = webhook.verify(body, headers);
  console.log(JSON.stringify(payload));
}
