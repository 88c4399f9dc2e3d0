"""Receives stk serve's webhooks and verifies them with the Standard Webhooks library.
    pip install standardwebhooks
    STK_SERVE_WEBHOOK_SECRET=whsec_… PORT=9000 python3 webhook.py
"""
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook

hooks = Webhook(os.environ["STK_SERVE_WEBHOOK_SECRET"])


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        try:
            event = hooks.verify(body, {k.lower(): v for k, v in self.headers.items()})
        except Exception:
            self.send_response(400)
            self.end_headers()
            return
        # Idempotent by webhook-id: the same id may arrive again.
        print(event["type"], event["data"]["reference"], event["data"]["receipt"], flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "9000"))), Receiver)
print(f"listening on {server.server_address[1]}", file=sys.stderr, flush=True)
server.serve_forever()
