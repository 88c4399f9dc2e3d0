"""An app in another language using `stk serve`: Python with `requests`, verifying webhooks
with the Standard Webhooks library.

Protocol with the Rust test that runs it: this script listens for webhooks on 127.0.0.1 and
prints its port on stdout; it then reads the service's base URL from stdin, runs the checks
and exits 0 (or raises). STK_SERVE_API_KEY and STK_SERVE_WEBHOOK_SECRET come from the
environment.
"""

import json
import os
import queue
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from standardwebhooks.webhooks import Webhook

KEY = os.environ["STK_SERVE_API_KEY"]
SECRET = os.environ["STK_SERVE_WEBHOOK_SECRET"]
deliveries = queue.Queue()
answers = [500]  # the first delivery is refused: it must come again, same id


class Hooks(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            event = Webhook(SECRET).verify(body, headers)
        except Exception as e:  # a forged or broken signature
            deliveries.put(("bad-signature", str(e)))
            self.send_response(400)
            self.end_headers()
            return
        status = answers.pop(0) if answers else 200
        deliveries.put((headers["webhook-id"], event, status))
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


def expect(answer, status, kind=None):
    assert answer.status_code == status, (answer.status_code, answer.text)
    body = answer.json()
    if kind is not None:
        assert body["error"]["kind"] == kind, body
    return body


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    base = sys.stdin.readline().strip()
    auth = {"Authorization": f"Bearer {KEY}"}
    payments = f"{base}/v1/payments"
    order = {"phone": "0712345678", "amount": 100, "reference": "PY-1"}

    expect(requests.post(payments, json=order), 401, "unauthorized")
    expect(requests.post(payments, json=order, headers={"Authorization": "Bearer wrong"}), 401)
    expect(requests.post(payments, json={**order, "amount": 1.5}, headers=auth), 400, "invalid_request")
    expect(requests.post(payments, json={**order, "phone": "12"}, headers=auth), 400, "invalid_request")

    created = expect(requests.post(payments, json=order, headers=auth), 201)
    assert created["state"] in ("submitted", "pending", "processing", "completed"), created
    assert created["phone"].startswith("2547") and "*" in created["phone"], created
    again = expect(requests.post(payments, json=order, headers=auth), 200)
    assert again["id"] == created["id"], (again, created)
    conflict = expect(requests.post(payments, json={**order, "amount": 99}, headers=auth), 409, "already_live")
    assert conflict["payment"]["id"] == created["id"], conflict

    first = deliveries.get(timeout=20)
    assert first[0] != "bad-signature", first
    webhook_id, event, status = first
    assert status == 500 and event["type"] == "payment.completed", first
    assert event["data"]["id"] == created["id"] and event["data"]["state"] == "completed", event
    second = deliveries.get(timeout=20)
    assert second[0] == webhook_id and second[2] == 200, (first, second)

    shown = expect(requests.get(f"{payments}/{created['id']}?expand=timeline", headers=auth), 200)
    assert shown["state"] == "completed" and shown["receipt"], shown
    assert shown["timeline"][-1]["to"] == "completed", shown
    listed = expect(requests.get(payments, params={"reference": "PY-1"}, headers=auth), 200)
    assert [p["id"] for p in listed["payments"]] == [created["id"]], listed
    assert requests.get(f"{base}/readyz").status_code == 200

    assert requests.get(f"{base}/metrics").status_code == 401
    metrics = requests.get(f"{base}/metrics", headers=auth)
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain"), metrics
    lines = metrics.text.splitlines()
    assert 'stk_webhooks_total{account="default",result="delivered"} 1' in lines, metrics.text
    assert 'stk_webhooks_total{account="default",result="failed"} 1' in lines, metrics.text
    assert any(l.startswith('stk_payments_requests_total{account="default",provider="mock"') for l in lines), metrics.text

    spec = requests.get(f"{base}/openapi.json")
    assert spec.status_code == 200, spec
    spec = spec.json()
    assert spec["openapi"].startswith("3.1"), spec["openapi"]
    assert {"/v1/payments", "/v1/payments/{id}", "/v1/payments/{id}/resolve"} <= set(spec["paths"]), spec["paths"].keys()
    assert "PaymentView" in spec["components"]["schemas"], spec["components"]
    print(json.dumps({"checked": "auth, validation, create, repeat, conflict, signed webhook, redelivery, read, metrics, openapi"}), flush=True)
    server.shutdown()


if __name__ == "__main__":
    main()
