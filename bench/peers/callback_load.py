#!/usr/bin/env python3
"""Debugging aid: POSTs documented callback bodies to a receiver and checks the acknowledgement.

    python3 callback_load.py --provider {kulmipay,upesipay,lipia,daraja} \
        --url http://127.0.0.1:PORT/PROVIDER --concurrency N --requests M [--warmup W]
        [--challenge SECRET] [--print-body]

N keep-alive connections (standard-library asyncio, raw HTTP/1.1), each request with a fresh
payment id (CheckoutRequestID / invoice_id ending in its number), half successes, half failures.
An answer counts as ok when it is HTTP 200 with the provider's documented acknowledgement
(Daraja {"ResultCode":0,...}; the others any 2xx body). Prints one JSON line, the clients' schema
with tool "callback-load". --print-body prints one sample body per provider and exits.
"""

import argparse
import asyncio
import json
import math
import resource
import sys
import time
from urllib.parse import urlsplit


def kulmipay(i, ok, challenge):
    return {
        "invoice_id": f"INV{i:08d}", "state": "COMPLETE" if ok else "FAILED",
        "provider": "M-PESA", "charges": "0.00", "net_amount": "100.00", "currency": "KES",
        "value": "100.00", "account": "254712345678", "api_ref": f"ORDER-{i}",
        "clearing_status": "AVAILABLE" if ok else "PENDING",
        "mpesa_reference": f"RKT{i:07d}" if ok else None, "host": "127.0.0.1", "retry_count": 0,
        "failed_reason": None if ok else "Request Cancelled by user.",
        "failed_code": None if ok else "1032", "failed_code_link": None,
        "created_at": "2024-01-15T10:30:00Z", "updated_at": "2024-01-15T10:31:00Z",
        "challenge": challenge,
    }


def mpesa_result(i, ok):
    return {
        "Amount": 100, "CheckoutRequestID": f"ws_CO_{i:012d}", "ExternalReference": f"INV-{i}",
        "MerchantRequestID": f"3202-{i}-1", "MpesaReceiptNumber": f"SAE{i:07d}" if ok else "",
        "Phone": "+254712345678", "ResultCode": 0 if ok else 1032,
        "ResultDesc": "The service request is processed successfully." if ok
        else "Request cancelled by user",
        "Status": "Success" if ok else "Failed",
    }


def upesipay(i, ok, _challenge):
    return {"forward_url": "", "response": mpesa_result(i, ok), "status": ok}


def lipia(i, ok, _challenge):
    response = mpesa_result(i, ok)
    response["Phone"] = "254712345678"
    response["Metadata"] = {"order_id": str(i)}
    return {"response": response, "status": ok}


def daraja(i, ok, _challenge):
    callback = {
        "MerchantRequestID": f"677-{i}-1", "CheckoutRequestID": f"ws_CO_{i:012d}",
        "ResultCode": 0 if ok else 1032,
        "ResultDesc": "The service request is processed successfully." if ok
        else "Request cancelled by user",
    }
    if ok:
        callback["CallbackMetadata"] = {"Item": [
            {"Name": "Amount", "Value": 100.0}, {"Name": "MpesaReceiptNumber", "Value": f"OEB{i:07d}"},
            {"Name": "Balance"}, {"Name": "TransactionDate", "Value": 20200511201419},
            {"Name": "PhoneNumber", "Value": 254712345678},
        ]}
    return {"Body": {"stkCallback": callback}}


BODIES = {"kulmipay": kulmipay, "upesipay": upesipay, "lipia": lipia, "daraja": daraja}


def acked(provider, status, body):
    if status != 200:
        return False
    if provider == "daraja":
        return json.loads(body).get("ResultCode") == 0
    return True


async def worker(host, port, path, provider, challenge, indices, latencies, errors):
    reader = writer = None
    for i in indices:
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            data = json.dumps(BODIES[provider](i, i % 2 == 0, challenge)).encode()
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n\r\n".encode() + data
            )
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ")[1])
            headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:] if l)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if headers.get("connection", "").lower() == "close":
                writer.close()
                writer = None
            if acked(provider, status, body):
                latencies.append((time.perf_counter() - started) * 1000.0)
            else:
                errors.append(f"HTTP {status}: {body[:200]!r}")
        except (OSError, asyncio.IncompleteReadError, ValueError) as e:
            errors.append(f"{type(e).__name__}: {e}")
            if writer is not None:
                writer.close()
            writer = None
    if writer is not None:
        writer.close()


async def run(args, first, count):
    url = urlsplit(args.url)
    latencies, errors = [], []
    indices = list(range(first, first + count))
    await asyncio.gather(*(
        worker(url.hostname, url.port or 80, url.path or "/", args.provider, args.challenge,
               indices[w::args.concurrency], latencies, errors)
        for w in range(args.concurrency)
    ))
    return latencies, errors


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--provider", choices=sorted(BODIES))
    parser.add_argument("--url")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--first-id", type=int, default=1, help="number of the first payment id")
    parser.add_argument("--challenge", default="sandbox-challenge")
    parser.add_argument("--print-body", action="store_true")
    args = parser.parse_args()
    if args.print_body:
        for name, build in BODIES.items():
            print(name, json.dumps(build(1, True, args.challenge)))
        return
    if args.warmup:
        await run(args, args.first_id, args.warmup)
    started = time.perf_counter()
    latencies, errors = await run(args, args.first_id + args.warmup, args.requests)
    seconds = time.perf_counter() - started
    latencies.sort()
    ok = len(latencies)
    pct = lambda p: round(latencies[max(0, math.ceil(p * ok) - 1)], 3) if ok else None
    if errors:
        print(f"callback_load.py: first error: {errors[0]}", file=sys.stderr)
    print(json.dumps({
        "tool": "callback-load", "provider": args.provider, "concurrency": args.concurrency,
        "requests": args.requests, "ok": ok, "errors": args.requests - ok,
        "seconds": round(seconds, 6), "rps": round(ok / seconds, 1) if seconds > 0 else None,
        "p50_ms": pct(0.5), "p99_ms": pct(0.99),
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
