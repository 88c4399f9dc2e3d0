#!/usr/bin/env python3
"""What users write instead of `stk`: the providers' documented Python `requests` sample, looped.

The sample is Lipia's (`/work/shared/providers/lipia-initiate-stk-push.txt`, lines 111-146):

    headers = {'Authorization': f'Bearer {api_key}', 'Content-Type': 'application/json'}
    response = requests.post(f'{base_url}/payments/stk-push', headers=headers, json=payment_data)
    result = response.json()
    if result['success']: ... result['data']['TransactionReference']

KulmiPay, UpesiPay and Daraja publish curl samples only (or none); for them the same code is
used with each provider's documented body, headers and "accepted" field (RESEARCH.md):

    kulmipay  Bearer <secret key>  {amount (decimal string), phone_number, api_ref}
              accepted: result['invoice']['invoice_id']
    upesipay  Basic <token>        {amount, phone_number (07..), channel_id, provider:'m-pesa',
                                    external_reference, customer_name, callback_url}
              accepted: result['success']
    lipia     Bearer <API key>     {phone_number, amount, external_reference, callback_url, metadata}
              accepted: result['success'] (then result['data']['TransactionReference'])
    daraja    Bearer <token>       {BusinessShortCode, Password, Timestamp, TransactionType, Amount,
              (already obtained)    PartyA, PartyB, PhoneNumber, CallBackURL, AccountReference,
                                    TransactionDesc}; Password = base64(shortcode+passkey+Timestamp)
                                    computed per request, Timestamp in East Africa Time
              accepted: result['ResponseCode'] == '0'

Connections: the sample calls plain `requests.post`, which creates a new `Session` (and so a new
TCP connection) for every call, so this does exactly that: no shared Session, no keep-alive.

Usage:
    python3 client_requests.py --provider {kulmipay,upesipay,lipia,daraja} \
        --url http://127.0.0.1:PORT/path --concurrency N --requests M [--warmup W]
        [--token T] [--phone P] [--callback-url U] [--oauth-url URL]

Prints one JSON line on stdout:
    {"tool":"python-requests","provider":..,"concurrency":N,"requests":M,"ok":k,"errors":e,
     "seconds":s,"rps":..,"p50_ms":..,"p99_ms":..,"peak_rss_kb":..}
`seconds` is the wall time of the M measured requests (warm-up excluded); `rps` = ok / seconds;
percentiles are nearest-rank over the latencies of the ok requests (request sent to success
field checked; body building included). The first error's message goes to stderr.
"""

import argparse
import base64
import concurrent.futures
import json
import math
import os
import resource
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import requests

# Credentials default to the `stk sandbox` emulators' values, so the client also runs against them.
DEFAULT_TOKENS = {
    "kulmipay": "ISSecretKey_test_emulator",
    "upesipay": "emulator-basic-token",
    "lipia": "lipia-emulator-api-key",
    "daraja": "already-obtained-access-token",
}
DARAJA_SHORTCODE = "174379"
DARAJA_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
DARAJA_CONSUMER_KEY = "daraja-emulator-consumer-key"
DARAJA_CONSUMER_SECRET = "daraja-emulator-consumer-secret"
UPESIPAY_CHANNEL_ID = 2133
CALLBACK_URL = "https://your-domain.com/callback"
EAT = timezone(timedelta(hours=3))


def kulmipay(i, phone):
    body = {"amount": "100", "phone_number": phone, "api_ref": f"ORDER-{i}"}
    return "Bearer", body


def upesipay(i, phone):
    if phone.startswith("254"):
        phone = "0" + phone[3:]  # the docs' examples use 07...
    body = {
        "amount": 100,
        "phone_number": phone,
        "channel_id": UPESIPAY_CHANNEL_ID,
        "provider": "m-pesa",
        "external_reference": f"INV-{i}",
        "customer_name": "John Doe",
        "callback_url": CALLBACK_URL,
    }
    return "Basic", body


def lipia(i, phone):
    body = {
        "phone_number": phone,
        "amount": 100,
        "external_reference": f"order_{i}",
        "callback_url": CALLBACK_URL,
        "metadata": {"order_id": str(i), "customer_name": "John Doe"},
    }
    return "Bearer", body


def daraja(i, phone):
    timestamp = datetime.now(EAT).strftime("%Y%m%d%H%M%S")
    password = base64.b64encode(
        (DARAJA_SHORTCODE + DARAJA_PASSKEY + timestamp).encode()
    ).decode()
    body = {
        "BusinessShortCode": DARAJA_SHORTCODE,
        "Password": password,
        "Timestamp": timestamp,
        "TransactionType": "CustomerPayBillOnline",
        "Amount": 100,
        "PartyA": phone,
        "PartyB": DARAJA_SHORTCODE,
        "PhoneNumber": phone,
        "CallBackURL": CALLBACK_URL,
        "AccountReference": f"ORD{i}"[:12],
        "TransactionDesc": "Payment",
    }
    return "Bearer", body


BODIES = {"kulmipay": kulmipay, "upesipay": upesipay, "lipia": lipia, "daraja": daraja}

ACCEPTED = {
    "kulmipay": lambda r: bool(r["invoice"]["invoice_id"]),
    "upesipay": lambda r: r["success"] is True,
    "lipia": lambda r: r["success"] is True and bool(r["data"]["TransactionReference"]),
    "daraja": lambda r: r["ResponseCode"] == "0",
}


def daraja_token(oauth_url):
    """The Daraja OAuth call (`GET /oauth/v1/generate?grant_type=client_credentials`), made once."""
    response = requests.get(
        oauth_url,
        params={"grant_type": "client_credentials"},
        auth=(DARAJA_CONSUMER_KEY, DARAJA_CONSUMER_SECRET),
    )
    return response.json()["access_token"]


def main():
    global CALLBACK_URL
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--provider", required=True, choices=sorted(BODIES))
    parser.add_argument("--url", required=True, help="full push URL, path included")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--token", help="credential after 'Bearer '/'Basic ' (default: emulator's)")
    parser.add_argument("--phone", default="254712345678")
    parser.add_argument("--callback-url", default=CALLBACK_URL, help="sent where the body has one")
    parser.add_argument(
        "--oauth-url", help="daraja: get the Bearer token here once before the loop"
    )
    args = parser.parse_args()

    CALLBACK_URL = args.callback_url
    token = args.token or DEFAULT_TOKENS[args.provider]
    if args.provider == "daraja" and args.oauth_url and not args.token:
        token = daraja_token(args.oauth_url)
    build = BODIES[args.provider]
    accepted = ACCEPTED[args.provider]
    url = args.url
    phone = args.phone
    first_error = []
    error_lock = threading.Lock()

    def push(i):
        """One documented call; returns the latency in ms, or None on any failure."""
        started = time.perf_counter()  # body building (Daraja's Password) included
        scheme, body = build(i, phone)
        headers = {"Authorization": f"{scheme} {token}", "Content-Type": "application/json"}
        try:
            # Plain requests.post, as in the sample: a new Session and connection per call.
            response = requests.post(url, headers=headers, json=body)
            result = response.json()
            try:
                if accepted(result):
                    return (time.perf_counter() - started) * 1000.0
            except (KeyError, TypeError):
                pass
            problem = f"HTTP {response.status_code}: not accepted: {json.dumps(result)[:300]}"
        except (requests.exceptions.RequestException, ValueError) as e:
            problem = f"{type(e).__name__}: {e}"
        with error_lock:
            if not first_error:
                first_error.append(problem)
        return None

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        if args.warmup > 0:
            list(pool.map(push, range(args.warmup)))
            first_error.clear()
        started = time.perf_counter()
        results = list(pool.map(push, range(args.warmup, args.warmup + args.requests)))
        seconds = time.perf_counter() - started

    latencies = sorted(r for r in results if r is not None)
    ok = len(latencies)

    def percentile(p):
        if not latencies:
            return None
        return round(latencies[max(0, math.ceil(p * ok) - 1)], 3)

    if first_error:
        print(f"client_requests.py: first error: {first_error[0]}", file=sys.stderr)
    print(
        json.dumps(
            {
                "tool": "python-requests",
                "provider": args.provider,
                "concurrency": args.concurrency,
                "requests": args.requests,
                "ok": ok,
                "errors": args.requests - ok,
                "seconds": round(seconds, 6),
                "rps": round(ok / seconds, 1) if seconds > 0 else None,
                "p50_ms": percentile(0.50),
                "p99_ms": percentile(0.99),
                "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            },
            separators=(",", ":"),
        ),
        flush=True,
    )


if __name__ == "__main__":
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    main()
