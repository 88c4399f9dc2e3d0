#!/usr/bin/env node
// What users write instead of `stk`: the providers' documented Node `fetch` sample, looped.
//
// The sample is Lipia's (/work/shared/providers/lipia-initiate-stk-push.txt, lines 76-98):
//
//   const response = await fetch(`${base}/payments/stk-push`, { method: 'POST',
//     headers: { 'Authorization': `Bearer ${key}`, 'Content-Type': 'application/json' },
//     body: JSON.stringify(paymentData) });
//   const result = await response.json();
//   if (result.success) { ... result.data.TransactionReference }
//
// KulmiPay, UpesiPay and Daraja publish curl samples only (or none); for them the same code is
// used with each provider's documented body, headers and "accepted" field (RESEARCH.md); see
// client_requests.py for the table. Daraja's Bearer token is assumed already obtained (or got once
// with --oauth-url); its Password is base64(shortcode + passkey + Timestamp), per request, EAT.
//
// Connections: the sample calls the global `fetch` (Node 20's built-in undici), which keeps
// connections alive in its global pool; this does exactly the same, with no custom dispatcher.
//
// Usage:
//   node client_fetch.mjs --provider {kulmipay,upesipay,lipia,daraja} \
//     --url http://127.0.0.1:PORT/path --concurrency N --requests M [--warmup W]
//     [--token T] [--phone P] [--callback-url U] [--oauth-url URL]
//
// Prints one JSON line on stdout (same schema as client_requests.py, tool "node-fetch"):
//   {"tool":"node-fetch","provider":..,"concurrency":N,"requests":M,"ok":k,"errors":e,
//    "seconds":s,"rps":..,"p50_ms":..,"p99_ms":..,"peak_rss_kb":..}
// N async workers share the M requests; `seconds` excludes the warm-up; `rps` = ok / seconds;
// percentiles are nearest-rank over the ok requests' latencies (body built to success field
// checked); peak RSS is process.resourceUsage().maxRSS (KiB). The first error goes to stderr.

import { parseArgs } from 'node:util';

const DEFAULT_TOKENS = {
  kulmipay: 'ISSecretKey_test_emulator',
  upesipay: 'emulator-basic-token',
  lipia: 'lipia-emulator-api-key',
  daraja: 'already-obtained-access-token',
};
const DARAJA_SHORTCODE = '174379';
const DARAJA_PASSKEY = 'bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919';
const DARAJA_CONSUMER_KEY = 'daraja-emulator-consumer-key';
const DARAJA_CONSUMER_SECRET = 'daraja-emulator-consumer-secret';
const UPESIPAY_CHANNEL_ID = 2133;
let CALLBACK_URL = 'https://your-domain.com/callback';

// YYYYMMDDHHmmss in East Africa Time (UTC+3).
const eatTimestamp = () =>
  new Date(Date.now() + 3 * 3600 * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14);

const BODIES = {
  kulmipay: (i, phone) => ['Bearer', { amount: '100', phone_number: phone, api_ref: `ORDER-${i}` }],
  upesipay: (i, phone) => ['Basic', {
    amount: 100,
    phone_number: phone.startsWith('254') ? `0${phone.slice(3)}` : phone, // docs use 07...
    channel_id: UPESIPAY_CHANNEL_ID,
    provider: 'm-pesa',
    external_reference: `INV-${i}`,
    customer_name: 'John Doe',
    callback_url: CALLBACK_URL,
  }],
  lipia: (i, phone) => ['Bearer', {
    phone_number: phone,
    amount: 100,
    external_reference: `order_${i}`,
    callback_url: CALLBACK_URL,
    metadata: { order_id: String(i), customer_name: 'John Doe' },
  }],
  daraja: (i, phone) => {
    const timestamp = eatTimestamp();
    const password = Buffer.from(DARAJA_SHORTCODE + DARAJA_PASSKEY + timestamp).toString('base64');
    return ['Bearer', {
      BusinessShortCode: DARAJA_SHORTCODE,
      Password: password,
      Timestamp: timestamp,
      TransactionType: 'CustomerPayBillOnline',
      Amount: 100,
      PartyA: phone,
      PartyB: DARAJA_SHORTCODE,
      PhoneNumber: phone,
      CallBackURL: CALLBACK_URL,
      AccountReference: `ORD${i}`.slice(0, 12),
      TransactionDesc: 'Payment',
    }];
  },
};

const ACCEPTED = {
  kulmipay: (r) => Boolean(r.invoice.invoice_id),
  upesipay: (r) => r.success === true,
  lipia: (r) => r.success === true && Boolean(r.data.TransactionReference),
  daraja: (r) => r.ResponseCode === '0',
};

const { values: args } = parseArgs({
  options: {
    provider: { type: 'string' },
    url: { type: 'string' },
    concurrency: { type: 'string', default: '1' },
    requests: { type: 'string', default: '1000' },
    warmup: { type: 'string', default: '0' },
    token: { type: 'string' },
    phone: { type: 'string', default: '254712345678' },
    'callback-url': { type: 'string' },
    'oauth-url': { type: 'string' },
  },
});
if (!BODIES[args.provider] || !args.url) {
  console.error('usage: node client_fetch.mjs --provider {kulmipay,upesipay,lipia,daraja} '
    + '--url URL --concurrency N --requests M [--warmup W] [--token T] [--phone P] [--callback-url U] [--oauth-url URL]');
  process.exit(2);
}
const provider = args.provider;
CALLBACK_URL = args['callback-url'] ?? CALLBACK_URL;
const url = args.url;
const phone = args.phone;
const concurrency = Number(args.concurrency);
const total = Number(args.requests);
const warmup = Number(args.warmup);
const build = BODIES[provider];
const accepted = ACCEPTED[provider];

let token = args.token ?? DEFAULT_TOKENS[provider];
if (provider === 'daraja' && args['oauth-url'] && !args.token) {
  const basic = Buffer.from(`${DARAJA_CONSUMER_KEY}:${DARAJA_CONSUMER_SECRET}`).toString('base64');
  const response = await fetch(`${args['oauth-url']}?grant_type=client_credentials`, {
    headers: { Authorization: `Basic ${basic}` },
  });
  token = (await response.json()).access_token;
}

let firstError = null;

// One documented call; the latency in ms, or null on any failure.
async function push(i) {
  const started = performance.now(); // body building (Daraja's Password) included
  const [scheme, paymentData] = build(i, phone);
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        Authorization: `${scheme} ${token}`,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify(paymentData),
    });
    const result = await response.json();
    let ok = false;
    try { ok = accepted(result); } catch { /* a field is missing: not accepted */ }
    if (ok) return performance.now() - started;
    firstError ??= `HTTP ${response.status}: not accepted: ${JSON.stringify(result).slice(0, 300)}`;
  } catch (error) {
    firstError ??= `${error.name}: ${error.message}${error.cause ? ` (${error.cause})` : ''}`;
  }
  return null;
}

// `count` requests numbered from `first`, shared by `concurrency` workers.
async function run(first, count) {
  const latencies = [];
  let next = first;
  const end = first + count;
  const worker = async () => {
    while (next < end) {
      const latency = await push(next++);
      if (latency !== null) latencies.push(latency);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return latencies;
}

if (warmup > 0) {
  await run(0, warmup);
  firstError = null;
}
const started = performance.now();
const latencies = await run(warmup, total);
const seconds = (performance.now() - started) / 1000;

latencies.sort((a, b) => a - b);
const ok = latencies.length;
const percentile = (p) =>
  ok === 0 ? null : Math.round(latencies[Math.max(0, Math.ceil(p * ok) - 1)] * 1000) / 1000;

if (firstError) console.error(`client_fetch.mjs: first error: ${firstError}`);
console.log(JSON.stringify({
  tool: 'node-fetch',
  provider,
  concurrency,
  requests: total,
  ok,
  errors: total - ok,
  seconds: Math.round(seconds * 1e6) / 1e6,
  rps: seconds > 0 ? Math.round((ok / seconds) * 10) / 10 : null,
  p50_ms: percentile(0.5),
  p99_ms: percentile(0.99),
  peak_rss_kb: process.resourceUsage().maxRSS,
}));
