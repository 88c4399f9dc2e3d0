"""The dashboard in a real browser (Debian's chromium, driven by Playwright).

Usage: dashboard.py BASE_URL API_KEY SCREENSHOT_DIR

Seeds payments through the JSON API (the fake provider: 0712345678 pays, 0700000001
cancels, 0700000007 never answers and expires), then, as an operator would: a wrong key is
refused; sign in; the overview; find a payment by order reference and by M-Pesa receipt (the
search box and ?q=); its timeline; resolve the expired one from the review queue and see it
leave; export a day as CSV and read it back; forms posted from other origins and without the
CSRF token are refused; sign out. Prints each step; exits non-zero on the first failure.
"""

import csv
import io
import shutil
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from playwright.sync_api import expect, sync_playwright

BASE, KEY, SHOTS = sys.argv[1].rstrip("/"), sys.argv[2], Path(sys.argv[3])
API = {"Authorization": f"Bearer {KEY}"}
EAT = timezone(timedelta(hours=3))


def step(text):
    print(f"- {text}", flush=True)


def create(reference, phone, amount):
    r = requests.post(
        f"{BASE}/v1/payments",
        json={"reference": reference, "phone": phone, "amount": amount},
        headers=API,
        timeout=10,
    )
    assert r.status_code == 201, (r.status_code, r.text)
    return r.json()["id"]


def wait_for_state(payment_id, states, seconds=60):
    deadline = time.monotonic() + seconds
    while True:
        payment = requests.get(f"{BASE}/v1/payments/{payment_id}", headers=API, timeout=10).json()
        if payment["state"] in states:
            return payment
        assert time.monotonic() < deadline, f"{payment_id} stayed {payment['state']}"
        time.sleep(0.2)


def other_origin_page(target, fields):
    """Serves a page on another port whose form posts `fields` to `target` (as an attacker's
    site would). Returns the server and its port."""
    inputs = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items())
    html = f'<form method="post" action="{target}">{inputs}<button id="go">Win a prize</button></form>'

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def main():
    SHOTS.mkdir(parents=True, exist_ok=True)
    step("seeding payments through the API")
    paid_id = create("ORDER-1001", "0712345678", 1500)
    create("ORDER-1002", "0712345679", 250)
    create("ORDER-1003", "0700000001", 700)
    stuck_id = create("ORDER-1004", "0700000007", 999)
    paid = wait_for_state(paid_id, {"completed"})
    receipt = paid["receipt"]
    assert receipt, paid
    wait_for_state(stuck_id, {"expired"})
    step(f"ORDER-1001 paid with {receipt}; ORDER-1004 expired")

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()

        step("a page needs a session: sent to the login form")
        page.goto(f"{BASE}/dashboard/payments")
        assert page.url.endswith("/dashboard/login"), page.url

        step("a wrong key is refused")
        page.fill("input[name=api_key]", "not-the-key-but-long-enough")
        response_holder = {}
        page.on("response", lambda r: response_holder.setdefault(r.url, r.status))
        page.click("button[type=submit]")
        expect(page.locator("p.error")).to_contain_text("not an API key")
        assert response_holder.get(f"{BASE}/dashboard/login") == 401, response_holder
        assert not context.cookies(), context.cookies()
        page.screenshot(path=str(SHOTS / "login-refused.png"))

        step("signing in with the account's key")
        page.fill("input[name=api_key]", KEY)
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_contain_text("Today")
        cookie = next(c for c in context.cookies() if c["name"] == "stk_dashboard")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > 0, cookie
        assert int(page.inner_text("#today-count")) >= 4
        expect(page.locator("#today-paid")).to_contain_text("KES 1,750")
        expect(page.locator("svg.chart rect")).to_have_count(14)
        page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)

        step("the payments list: newest first, with a header row")
        with page.expect_navigation():
            page.click("header.top a[href='/dashboard/payments']")
        headers = page.locator("table.payments thead th").all_inner_texts()
        assert headers[:3] == ["Created (EAT)", "Order", "Amount"], headers
        orders = page.locator("table.payments tbody td:nth-child(2)").all_inner_texts()
        assert orders == ["ORDER-1004", "ORDER-1003", "ORDER-1002", "ORDER-1001"], orders
        assert "712345678" not in page.content(), "phones are masked"
        page.screenshot(path=str(SHOTS / "payments.png"), full_page=True)

        step("found by order reference in the search box")
        page.fill("input[type=search][name=q]", "ORDER-1001")
        with page.expect_navigation():
            page.press("input[type=search][name=q]", "Enter")
        rows = page.locator("table.payments tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("Paid")

        step("found by M-Pesa receipt, as ?q= in the URL")
        page.goto(f"{BASE}/dashboard/payments?q={receipt}")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("ORDER-1001")

        step("filtered by state")
        page.goto(f"{BASE}/dashboard/payments?state=failed")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("ORDER-1003")

        step("one payment: its timeline")
        page.goto(f"{BASE}/dashboard/payments?q=ORDER-1001")
        with page.expect_navigation():
            page.click("table.payments tbody a")
        expect(page.locator("h1")).to_contain_text("ORDER-1001")
        timeline = page.locator("table.timeline tbody tr")
        assert timeline.count() >= 2, timeline.count()
        expect(page.locator("table.timeline")).to_contain_text("Paid")
        expect(page.locator("dl.summary")).to_contain_text(receipt)
        expect(page.locator("table.events")).to_contain_text("payment.completed")
        page.screenshot(path=str(SHOTS / "payment.png"), full_page=True)

        step("the review queue holds the expired payment, with the reason in words")
        with page.expect_navigation():
            page.click("header.top a[href='/dashboard/review']")
        item = page.locator("article.review-item[data-reference=ORDER-1004]")
        expect(item).to_contain_text("Expired: no final answer")
        page.screenshot(path=str(SHOTS / "review.png"), full_page=True)

        step("a cross-site form post is refused (another origin, the session's cookie sent)")
        target = f"{BASE}/dashboard/payments/{stuck_id}/resolve"
        csrf = page.locator("input[name=csrf]").first.get_attribute("value")
        fields = {"resolution": "failed", "note": "attacker", "csrf": csrf, "back": "review"}
        server, port = other_origin_page(target, fields)
        for host in ("127.0.0.1", "localhost"):
            attacker = context.new_page()
            attacker.goto(f"http://{host}:{port}/")
            with attacker.expect_navigation():
                attacker.click("#go")
            body = attacker.content()
            assert "Refused" in body or "Sign in" in body, body[:500]
            attacker.close()
        server.shutdown()
        assert requests.get(f"{BASE}/v1/payments/{stuck_id}", headers=API, timeout=10).json()["state"] == "expired"

        step("a same-origin post without the CSRF token is refused")
        forged = page.request.post(
            target, form={"resolution": "failed", "note": "no token"}, headers={"Origin": BASE}
        )
        assert forged.status == 403, forged.status
        assert requests.get(f"{BASE}/v1/payments/{stuck_id}", headers=API, timeout=10).json()["state"] == "expired"

        step("resolving it as paid with a note: it leaves the queue")
        item.locator("select[name=resolution]").select_option("completed")
        item.locator("input[name=receipt]").fill("UAB1C2D3E4")
        item.locator("input[name=note]").fill("Customer showed the M-Pesa SMS")
        item.locator("button:has-text('Resolve')").click()
        expect(page.locator("p.done")).to_contain_text("Recorded your decision")
        expect(page.locator("article.review-item[data-reference=ORDER-1004]")).to_have_count(0)
        resolved = requests.get(f"{BASE}/v1/payments/{stuck_id}", headers=API, timeout=10).json()
        assert resolved["state"] == "completed" and resolved["receipt"] == "UAB1C2D3E4", resolved
        page.goto(f"{BASE}/dashboard/payments/{stuck_id}")
        expect(page.locator("table.timeline")).to_contain_text("Operator")
        expect(page.locator("table.timeline")).to_contain_text("Customer showed the M-Pesa SMS")
        assert page.locator("form.resolve").count() == 0, "a paid payment offers no resolution"

        step("exporting today as CSV and reading it back")
        today = datetime.now(EAT).date().isoformat()
        page.goto(f"{BASE}/dashboard/payments")
        export = page.locator("section.export form")
        export.locator("input[name=from]").fill(today)
        export.locator("input[name=to]").fill(today)
        with page.expect_download() as download:
            export.locator("button").click()
        path = download.value.path()
        rows = list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8"))))
        by_order = {r["order"]: r for r in rows}
        assert sorted(by_order) == ["ORDER-1001", "ORDER-1002", "ORDER-1003", "ORDER-1004"], by_order
        first = by_order["ORDER-1001"]
        assert first["amount_kes"] == "1500" and first["state"] == "completed", first
        assert first["receipt"] == receipt and first["provider"] == "mock", first
        assert first["phone"] == "2547******78", first
        assert first["created (Africa/Nairobi)"].startswith(today), first
        assert by_order["ORDER-1004"]["receipt"] == "UAB1C2D3E4"
        step(f"CSV: {len(rows)} rows, columns {list(rows[0])}")

        step("signing out ends the session")
        page.click("text=Sign out")
        expect(page.locator("input[name=api_key]")).to_be_visible()
        page.goto(f"{BASE}/dashboard/")
        assert page.url.endswith("/dashboard/login"), page.url
        page.screenshot(path=str(SHOTS / "login.png"))
        browser.close()
    print("ok", flush=True)


if __name__ == "__main__":
    main()
