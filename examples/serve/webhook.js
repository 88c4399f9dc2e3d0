// Receives stk serve's webhooks and verifies them (Standard Webhooks: HMAC-SHA256 of
// "id.timestamp.body" with the secret's bytes). Node 18+, no packages.
//   STK_SERVE_WEBHOOK_SECRET=whsec_… PORT=9000 node webhook.js
const crypto = require("node:crypto");
const http = require("node:http");

const secret = Buffer.from(process.env.STK_SERVE_WEBHOOK_SECRET.replace(/^whsec_/, ""), "base64");

function verify(headers, body) {
  const id = headers["webhook-id"], timestamp = headers["webhook-timestamp"];
  const age = Math.abs(Date.now() / 1000 - Number(timestamp));
  if (!id || !Number.isFinite(age) || age > 300) return null;
  const expected = crypto.createHmac("sha256", secret).update(`${id}.${timestamp}.`).update(body).digest();
  const signed = (headers["webhook-signature"] || "").split(" ").some((s) => {
    if (!s.startsWith("v1,")) return false;
    const given = Buffer.from(s.slice(3), "base64");
    return given.length === expected.length && crypto.timingSafeEqual(given, expected);
  });
  try {
    return signed ? JSON.parse(body.toString("utf8")) : null;
  } catch {
    return null;
  }
}

http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    const event = verify(req.headers, Buffer.concat(chunks));
    if (!event) return res.writeHead(400).end("bad signature");
    // Idempotent by webhook-id: the same id may arrive again.
    console.log(event.type, event.data.reference, event.data.receipt);
    res.writeHead(204).end();
  });
}).listen(Number(process.env.PORT || 9000), "127.0.0.1", function () {
  console.error(`listening on ${this.address().port}`);
});
