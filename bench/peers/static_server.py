#!/usr/bin/env python3
"""Debugging aid: a tiny HTTP/1.1 server answering each provider's documented push response.

    python3 static_server.py --port P        # prints "ready" once listening on 127.0.0.1:P

Answers by path (anything else: 404), keep-alive, no validation of the request:
    POST .../payment/mpesa-stk-push/ or .../payment/collection/stk-push/  KulmiPay  200
    POST .../payments                                                     UpesiPay  201
    POST .../payments/stk-push                                            Lipia     200
    POST .../mpesa/stkpush/v1/processrequest                              Daraja    200
    GET  .../oauth/v1/generate                                            Daraja token
Standard library asyncio (uvloop when importable), so it is not what a run measures.
"""

import argparse
import asyncio
import json

KULMIPAY = {
    "id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
    "invoice": {
        "invoice_id": "GQ7KZ2XPNM", "state": "PENDING", "provider": "M-PESA", "value": "100.00",
        "charges": "0.00", "net_amount": "100.00", "currency": "KES", "account": "254712345678",
        "api_ref": "ORDER-1", "clearing_status": "PENDING", "mpesa_reference": None,
        "host": "127.0.0.1", "retry_count": 0, "failed_reason": None, "failed_code": None,
        "failed_code_link": None, "created_at": "2024-01-15T10:30:00Z",
        "updated_at": "2024-01-15T10:30:00Z",
    },
    "customer": {"customer_id": "KL0QZ4", "phone_number": "254712345678", "email": None,
                 "first_name": None, "last_name": None, "country": None, "zipcode": None,
                 "created_at": "2024-01-15T10:30:00Z", "updated_at": "2024-01-15T10:30:00Z"},
    "payment_link": None,
    "customer_comment": None,
    "refundable": "false",
    "created_at": "2024-01-15T10:30:00Z",
    "updated_at": "2024-01-15T10:30:00Z",
}
UPESIPAY = {"success": True, "status": "QUEUED", "reference": "E8UWT7CLUW",
            "CheckoutRequestID": "ws_CO_02012026164321519708344109"}
LIPIA = {"success": True, "status": "success", "message": "STK push initiated successfully",
         "customerMessage": "STK push initiated successfully",
         "data": {"TransactionReference": "64f1a2b3c4d5e6f7g8h9i0j1", "ResponseCode": 0,
                  "ResponseDescription": "Success. Request accepted for processing"},
         "timestamp": "2024-01-15T10:30:00.000Z"}
DARAJA = {"MerchantRequestID": "68444-143235050-2",
          "CheckoutRequestID": "ws_CO_22112022152650652748458100", "ResponseCode": "0",
          "ResponseDescription": "Success. Request accepted for processing",
          "CustomerMessage": "Success. Request accepted for processing"}
TOKEN = {"access_token": "static-server-token", "expires_in": "3599"}


def reply(status, body):
    data = json.dumps(body).encode()
    reason = {200: "OK", 201: "Created", 404: "Not Found"}[status]
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode()
    return head + data


ROUTES = [  # (method, path suffix, answer), longest suffixes first
    ("POST", "/payment/mpesa-stk-push/", reply(200, KULMIPAY)),
    ("POST", "/payment/mpesa-stk-push", reply(200, KULMIPAY)),
    ("POST", "/payment/collection/stk-push/", reply(200, KULMIPAY)),
    ("POST", "/mpesa/stkpush/v1/processrequest", reply(200, DARAJA)),
    ("POST", "/payments/stk-push", reply(200, LIPIA)),
    ("POST", "/payments", reply(201, UPESIPAY)),
    ("GET", "/oauth/v1/generate", reply(200, TOKEN)),
]
NOT_FOUND = reply(404, {"error": "not found"})


def answer(method, target):
    path = target.split("?", 1)[0]
    for m, suffix, response in ROUTES:
        if method == m and path.endswith(suffix):
            return response
    return NOT_FOUND


async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            length, close = 0, False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
            if length:
                await reader.readexactly(length)
            writer.write(answer(method, target))
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main(port):
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    try:
        import uvloop
        uvloop.run(main(port))
    except ImportError:
        asyncio.run(main(port))
