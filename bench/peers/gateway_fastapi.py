#!/usr/bin/env python3
"""What users write instead of `stk serve`: a minimal FastAPI payments gateway on SQLite.

    python3 gateway_fastapi.py --port P --sqlite PATH --webhook-url URL --webhook-secret whsec_…
        [--api-key KEY]

Routes:
    POST /v1/payments   Bearer key; {"phone","amount","reference"} (pydantic). INSERT a row
                        (UNIQUE reference): 201 {"id","reference","state":"submitted",…}; the
                        same reference again 200 with the row. No provider is called.
    POST /v1/callbacks  {"reference","receipt","result":"completed"|"failed"}: UPDATE the row,
                        then (a BackgroundTask, in uvicorn's thread pool) POST a Standard
                        Webhooks-signed {"type":"payment.completed","data":{the row}} to the
                        webhook URL with `requests`, once (no retry, no outbox). Ack 200.

It does less than `stk serve`: no push to a provider, no status query confirming the callback,
no durable outbox or redelivery. SQLite the typical way: connect per request, WAL mode set once.
Prints "ready" once listening.
"""

import argparse
import base64
import hashlib
import hmac
import json
import sqlite3
import time
import uuid
from typing import Optional

import requests
import uvicorn
from fastapi import BackgroundTasks, FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel

app = FastAPI()
CONFIG = {}
session = requests.Session()


class NewPayment(BaseModel):
    phone: str
    amount: int
    reference: str
    description: Optional[str] = None


class Callback(BaseModel):
    reference: str
    receipt: Optional[str] = None
    result: str


def db():
    return sqlite3.connect(CONFIG["sqlite"], timeout=30)


def row_dict(row):
    keys = ["id", "reference", "phone", "amount", "state", "receipt", "created_at"]
    return dict(zip(keys, row))


@app.post("/v1/payments")
def create(payment: NewPayment, authorization: str = Header("")):
    if authorization != f"Bearer {CONFIG['api_key']}":
        raise HTTPException(status_code=401, detail="unauthorized")
    if payment.amount < 1 or not payment.reference:
        raise HTTPException(status_code=400, detail="invalid")
    conn = db()
    try:
        try:
            conn.execute(
                "INSERT INTO payments (id, reference, phone, amount, state, created_at) VALUES (?, ?, ?, ?, 'submitted', ?)",
                ("pay_" + uuid.uuid4().hex, payment.reference, payment.phone, payment.amount, time.time()),
            )
            conn.commit()
            status = 201
        except sqlite3.IntegrityError:
            status = 200
        row = conn.execute(
            "SELECT id, reference, phone, amount, state, receipt, created_at FROM payments WHERE reference = ?",
            (payment.reference,),
        ).fetchone()
    finally:
        conn.close()
    return JSONResponse(row_dict(row), status_code=status)


def send_webhook(data):
    body = json.dumps({"type": "payment.completed", "timestamp": time.time(), "data": data}).encode()
    webhook_id = "evt_" + uuid.uuid4().hex
    timestamp = str(int(time.time()))
    mac = hmac.new(CONFIG["secret"], f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256)
    signature = "v1," + base64.b64encode(mac.digest()).decode()
    try:
        session.post(
            CONFIG["webhook_url"],
            data=body,
            headers={
                "content-type": "application/json",
                "webhook-id": webhook_id,
                "webhook-timestamp": timestamp,
                "webhook-signature": signature,
            },
            timeout=10,
        )
    except requests.RequestException:
        pass  # lost: no outbox


@app.post("/v1/callbacks")
def callback(cb: Callback, background: BackgroundTasks):
    conn = db()
    try:
        conn.execute(
            "UPDATE payments SET state = ?, receipt = ? WHERE reference = ?",
            (cb.result, cb.receipt, cb.reference),
        )
        conn.commit()
        row = conn.execute(
            "SELECT id, reference, phone, amount, state, receipt, created_at FROM payments WHERE reference = ?",
            (cb.reference,),
        ).fetchone()
    finally:
        conn.close()
    if row is not None:
        background.add_task(send_webhook, row_dict(row))
    return {"ok": True}


def prepare_db(path):
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        """CREATE TABLE IF NOT EXISTS payments (
               id TEXT PRIMARY KEY, reference TEXT NOT NULL UNIQUE, phone TEXT NOT NULL,
               amount INTEGER NOT NULL, state TEXT NOT NULL, receipt TEXT, created_at REAL NOT NULL)"""
    )
    conn.commit()
    conn.close()


class ReadyServer(uvicorn.Server):
    async def startup(self, sockets=None):
        await super().startup(sockets=sockets)
        if self.started:
            print("ready", flush=True)


def main():
    parser = argparse.ArgumentParser(description="minimal FastAPI payments gateway")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sqlite", required=True)
    parser.add_argument("--webhook-url", required=True)
    parser.add_argument("--webhook-secret", required=True)
    parser.add_argument("--api-key", default="bench-key-0123456789")
    args = parser.parse_args()
    CONFIG.update(
        sqlite=args.sqlite,
        webhook_url=args.webhook_url,
        secret=base64.b64decode(args.webhook_secret.removeprefix("whsec_")),
        api_key=args.api_key,
    )
    prepare_db(args.sqlite)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=args.port, workers=1, loop="auto", http="auto",
        log_level="warning", access_log=False,
    )
    ReadyServer(config).run()


if __name__ == "__main__":
    main()
