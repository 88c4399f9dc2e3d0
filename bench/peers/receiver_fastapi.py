#!/usr/bin/env python3
"""What users write instead of `stk`'s callback receiver: a minimal FastAPI app.

    python3 receiver_fastapi.py --port P [--sqlite PATH] [--host 127.0.0.1]
        [--kulmipay-challenge SECRET]

Routes (one per provider; the body shapes are those of RESEARCH.md's "Callback"/"Webhook"):

    POST /kulmipay  flat invoice + challenge: {"invoice_id","state","value","api_ref",
                    "mpesa_reference","failed_code","failed_reason",...,"challenge"};
                    challenge != secret -> 401. Ack: 200 text/plain "ok"
    POST /upesipay  {"forward_url","response":{"Amount","CheckoutRequestID","ExternalReference",
                    "MerchantRequestID","MpesaReceiptNumber","Phone","ResultCode","ResultDesc",
                    "Status"},"status"}. Ack: 200 text/plain "ok"
    POST /lipia     {"response":{the same fields + "Metadata"},"status"}. Ack: 200 text/plain "ok"
    POST /daraja    {"Body":{"stkCallback":{"MerchantRequestID","CheckoutRequestID","ResultCode",
                    "ResultDesc","CallbackMetadata"?:{"Item":[{"Name","Value"?}]}}}}.
                    Ack: 200 {"ResultCode":0,"ResultDesc":"Accepted"}

Bodies are parsed into pydantic models (FastAPI's documented way; a malformed body gets FastAPI's
422). With --sqlite PATH each callback also INSERTs one row (provider, payment_id, status, amount,
raw body) into `callbacks`, the way a typical handler does: `sqlite3.connect` per request, execute,
commit, close, inline in the async handler. The database is put in WAL mode once at start-up.

Server: uvicorn, one worker, loop "auto" (uvloop when installed, as `uvicorn[standard]` does),
http "auto" (httptools), log level warning, no access log. Prints "ready" on stdout (flushed) once
the socket is listening.
"""

import argparse
import sqlite3
from typing import Any, Optional, Union

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

app = FastAPI()
DB_PATH: Optional[str] = None
KULMIPAY_CHALLENGE = "sandbox-challenge"


# --- KulmiPay (IntaSend) collection_event webhook -------------------------------------------
class KulmiPayEvent(BaseModel):
    invoice_id: str
    state: str
    value: Union[str, float, None] = None
    api_ref: Optional[str] = None
    mpesa_reference: Optional[str] = None
    failed_code: Optional[str] = None
    failed_reason: Optional[str] = None
    challenge: Optional[str] = None


# --- UpesiPay and Lipia: {"response": {...}, "status": bool} --------------------------------
class MpesaResult(BaseModel):
    Amount: Optional[float] = None
    CheckoutRequestID: Optional[str] = None
    ExternalReference: Optional[str] = None
    MerchantRequestID: Optional[str] = None
    MpesaReceiptNumber: Optional[str] = None
    Phone: Optional[str] = None
    ResultCode: int
    ResultDesc: Optional[str] = None
    Status: Optional[str] = None


class UpesiPayCallback(BaseModel):
    forward_url: Optional[str] = None
    response: MpesaResult
    status: bool


class LipiaResult(MpesaResult):
    Metadata: Optional[dict[str, Any]] = None


class LipiaCallback(BaseModel):
    response: LipiaResult
    status: bool


# --- Daraja -----------------------------------------------------------------------------------
class DarajaItem(BaseModel):
    Name: str
    Value: Union[int, float, str, None] = None


class DarajaMetadata(BaseModel):
    Item: list[DarajaItem]


class StkCallback(BaseModel):
    MerchantRequestID: str
    CheckoutRequestID: str
    ResultCode: int
    ResultDesc: str
    CallbackMetadata: Optional[DarajaMetadata] = None


class DarajaBody(BaseModel):
    stkCallback: StkCallback


class DarajaCallback(BaseModel):
    Body: DarajaBody


DARAJA_ACK = {"ResultCode": 0, "ResultDesc": "Accepted"}


async def save(request: Request, provider, payment_id, status, amount):
    """The typical handler's INSERT: connect, execute, commit, close (nothing without --sqlite)."""
    if DB_PATH is None:
        return
    raw = await request.body()  # cached by Starlette: the bytes the model was parsed from
    conn = sqlite3.connect(DB_PATH)
    try:
        conn.execute(
            "INSERT INTO callbacks (provider, payment_id, status, amount, raw) VALUES (?, ?, ?, ?, ?)",
            (provider, payment_id, status, amount, raw.decode("utf-8")),
        )
        conn.commit()
    finally:
        conn.close()


@app.post("/kulmipay", response_class=PlainTextResponse)
async def kulmipay(event: KulmiPayEvent, request: Request):
    if event.challenge != KULMIPAY_CHALLENGE:
        raise HTTPException(status_code=401, detail="bad challenge")
    amount = float(event.value) if event.value is not None else None
    await save(request, "kulmipay", event.invoice_id, event.state, amount)
    return "ok"


@app.post("/upesipay", response_class=PlainTextResponse)
async def upesipay(callback: UpesiPayCallback, request: Request):
    r = callback.response
    status = "SUCCESS" if callback.status and r.ResultCode == 0 else "FAILED"
    await save(request, "upesipay", r.CheckoutRequestID, status, r.Amount)
    return "ok"


@app.post("/lipia", response_class=PlainTextResponse)
async def lipia(callback: LipiaCallback, request: Request):
    r = callback.response
    status = "SUCCESS" if callback.status and r.ResultCode == 0 else "FAILED"
    await save(request, "lipia", r.CheckoutRequestID, status, r.Amount)
    return "ok"


@app.post("/daraja")
async def daraja(callback: DarajaCallback, request: Request):
    cb = callback.Body.stkCallback
    items = {i.Name: i.Value for i in cb.CallbackMetadata.Item} if cb.CallbackMetadata else {}
    status = "SUCCESS" if cb.ResultCode == 0 else "FAILED"
    await save(request, "daraja", cb.CheckoutRequestID, status, items.get("Amount"))
    return DARAJA_ACK


def prepare_db(path):
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        """CREATE TABLE IF NOT EXISTS callbacks (
               id INTEGER PRIMARY KEY AUTOINCREMENT,
               provider TEXT NOT NULL,
               payment_id TEXT,
               status TEXT NOT NULL,
               amount REAL,
               raw TEXT NOT NULL,
               received_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
           )"""
    )
    conn.commit()
    conn.close()


class ReadyServer(uvicorn.Server):
    """Prints "ready" once the listening socket is open."""

    async def startup(self, sockets=None):
        await super().startup(sockets=sockets)
        if self.started:
            print("ready", flush=True)


def main():
    global DB_PATH, KULMIPAY_CHALLENGE
    parser = argparse.ArgumentParser(description="minimal FastAPI callback receiver")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--sqlite", metavar="PATH")
    parser.add_argument("--kulmipay-challenge", default=KULMIPAY_CHALLENGE)
    args = parser.parse_args()
    KULMIPAY_CHALLENGE = args.kulmipay_challenge
    if args.sqlite:
        prepare_db(args.sqlite)
        DB_PATH = args.sqlite
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        workers=1,
        loop="auto",
        http="auto",
        log_level="warning",
        access_log=False,
    )
    ReadyServer(config).run()


if __name__ == "__main__":
    main()
