//! The dashboard over real HTTP on 127.0.0.1, from the outside: sign-in, sessions, forms
//! refused without their token or from another origin, hostile queries answered with
//! explained pages, the CSV export. (The browser walk-through is in the CLI's tests.)

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use stk_serve::{Account, AccountConfig};
use stk_tracker::{SqlStore, Tracker};

mod common;
use common::{KEY, fake_provider};

struct Dashboard {
    base: String,
    http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Dashboard {
    async fn start() -> Self {
        let path = std::env::temp_dir().join(format!("stk-dash-{}.db", fastrand::u64(..)));
        let store = Arc::new(SqlStore::open_sqlite(&path).await.unwrap());
        let mock = fake_provider();
        let tracker = Tracker::builder(store)
            .provider(Arc::new(mock.clone()))
            .build();
        stk_serve::forward_mock_callbacks(mock, tracker.clone());
        let account = Account::new("shop", tracker, AccountConfig::new(KEY).unwrap()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(stk_serve::serve(listener, vec![account], async {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            base,
            http,
            _stop: stop,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn create(&self, reference: &str, phone: &str) -> Value {
        let answer = self
            .http
            .post(self.url("/v1/payments"))
            .bearer_auth(KEY)
            .json(&json!({ "reference": reference, "phone": phone, "amount": 100 }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::CREATED);
        answer.json().await.unwrap()
    }

    async fn sign_in(&self, key: &str) -> reqwest::Response {
        self.http
            .post(self.url("/dashboard/login"))
            .form_of(&[("api_key", key)])
            .send()
            .await
            .unwrap()
    }

    /// Signs in: the session cookie (`name=value`) and a page's CSRF token.
    async fn session(&self) -> (String, String) {
        let answer = self.sign_in(KEY).await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        let cookie = set_cookie(answer.headers())
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let page = self.page(&cookie, "/dashboard/").await.1;
        let csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_owned();
        (cookie, csrf)
    }

    async fn page(&self, cookie: &str, path: &str) -> (StatusCode, String) {
        let answer = self
            .http
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        (answer.status(), answer.text().await.unwrap())
    }

    async fn post(
        &self,
        cookie: &str,
        path: &str,
        headers: &[(&str, String)],
        form: &[(&str, &str)],
    ) -> (StatusCode, String) {
        let mut request = self
            .http
            .post(self.url(path))
            .header("cookie", cookie)
            .form_of(form);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status();
        let location = answer
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (
            status,
            format!("{location}{}", answer.text().await.unwrap()),
        )
    }
}

/// A form body (`application/x-www-form-urlencoded`), as a browser posts it.
trait Form {
    fn form_of<K: AsRef<str>, V: AsRef<str>>(self, fields: &[(K, V)]) -> Self;
}

impl Form for reqwest::RequestBuilder {
    fn form_of<K: AsRef<str>, V: AsRef<str>>(self, fields: &[(K, V)]) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
            .finish();
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }
}

fn set_cookie(headers: &HeaderMap) -> &str {
    headers.get(SET_COOKIE).unwrap().to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_takes_only_an_accounts_key_and_sets_a_strict_session_cookie() {
    let d = Dashboard::start().await;
    let first = d.http.get(d.url("/dashboard/")).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    assert_eq!(first.headers()[LOCATION], "/dashboard/login");
    let login = d.http.get(d.url("/dashboard/login")).send().await.unwrap();
    assert!(
        login.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    assert!(login.text().await.unwrap().contains("name=\"api_key\""));

    for wrong in [
        "",
        "short",
        "not-the-key-but-long-enough",
        &format!("{KEY}x"),
        &"k".repeat(4000),
    ] {
        let answer = d.sign_in(wrong).await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{wrong:?}");
        assert!(answer.headers().get(SET_COOKIE).is_none());
        assert!(answer.text().await.unwrap().contains("not an API key"));
    }
    let huge = d
        .http
        .post(d.url("/dashboard/login"))
        .form_of(&[("api_key", "k".repeat(20_000))])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let answer = d.sign_in(KEY).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookie(answer.headers());
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/dashboard",
        "Max-Age=28800",
    ] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap();
    let (status, page) = d.page(session, "/dashboard/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Today") && page.contains("Account <strong>shop</strong>"));
    for forged in [
        "stk_dashboard=",
        "stk_dashboard=00",
        &format!("stk_dashboard={}", "0".repeat(64)),
    ] {
        assert_eq!(
            d.page(forged, "/dashboard/").await.0,
            StatusCode::SEE_OTHER,
            "{forged}"
        );
    }
    // A flood of wrong keys: each refused, nothing kept.
    let floods = (0..500).map(|i| {
        let d = &d;
        async move {
            d.sign_in(&format!("wrong-key-number-{i:06}"))
                .await
                .status()
        }
    });
    for status in futures_util::future::join_all(floods).await {
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_forms_need_the_sessions_token_and_this_origin() {
    let d = Dashboard::start().await;
    let payment = d.create("ORDER-9", "0700000007").await;
    let id = payment["id"].as_str().unwrap();
    let (cookie, csrf) = d.session().await;
    let resolve = format!("/dashboard/payments/{id}/resolve");
    let form = [
        ("resolution", "failed"),
        ("note", "customer cancelled"),
        ("csrf", csrf.as_str()),
    ];
    let own = d.base.clone();

    // Without the token, with someone else's, from another origin, or another site.
    let no_token = [("resolution", "failed"), ("note", "x")];
    assert_eq!(
        d.post(&cookie, &resolve, &[], &no_token).await.0,
        StatusCode::FORBIDDEN
    );
    let wrong = [("resolution", "failed"), ("note", "x"), ("csrf", "0000")];
    assert_eq!(
        d.post(&cookie, &resolve, &[], &wrong).await.0,
        StatusCode::FORBIDDEN
    );
    for headers in [
        vec![("origin", "http://127.0.0.1:1".to_owned())],
        vec![("origin", "null".to_owned())],
        vec![("sec-fetch-site", "same-site".to_owned())],
        vec![
            ("sec-fetch-site", "cross-site".to_owned()),
            ("origin", own.clone()),
        ],
    ] {
        let (status, body) = d.post(&cookie, &resolve, &headers, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}");
        assert!(body.contains("only from this dashboard"), "{body}");
    }
    // Without a session: to the login page.
    let (status, location) = d.post("", &resolve, &[], &form).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/dashboard/login")
    );

    // A decision carries the version and the newest evidence the page showed.
    let (_, page) = d.page(&cookie, &format!("/dashboard/payments/{id}")).await;
    let hidden = |name: &str| {
        page.split(&format!("name=\"{name}\" value=\""))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_owned()
    };
    let (version, seen) = (hidden("version"), hidden("seen"));
    let decide = |resolution: &'static str, receipt: &'static str, version: &str| {
        vec![
            ("resolution", resolution.to_owned()),
            ("note", "customer cancelled".to_owned()),
            ("receipt", receipt.to_owned()),
            ("csrf", csrf.clone()),
            ("version", version.to_owned()),
            ("seen", seen.clone()),
        ]
    };
    let post = |form: Vec<(&'static str, String)>| {
        let (d, cookie, resolve) = (&d, &cookie, &resolve);
        async move {
            let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            d.post(cookie, resolve, &[], &fields).await
        }
    };
    // The tracker's own rule answers (the provider still has this push).
    let (status, body) = post(decide("failed", "", &version)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("the provider has this push"), "{body}");
    // Paid needs a receipt.
    let (status, body) = post(decide("completed", "", &version)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("needs the M-Pesa receipt"), "{body}");
    // A page drawn at another version, or a form without one, decides nothing.
    let (status, body) = post(decide("failed", "", "999")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("changed, or new evidence arrived"), "{body}");
    let (status, body) = d.post(&cookie, &resolve, &[], &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("form is incomplete"), "{body}");
    // A review needs evidence to answer.
    let review = [
        ("note", "looked"),
        ("csrf", csrf.as_str()),
        ("version", version.as_str()),
        ("seen", seen.as_str()),
    ];
    let (status, body) = d
        .post(
            &cookie,
            &format!("/dashboard/payments/{id}/reviewed"),
            &[],
            &review,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("no evidence on it awaits review"), "{body}");
    let (status, location) = d
        .post(
            &cookie,
            &format!("/dashboard/payments/{id}/reconcile"),
            &[("origin", own.clone())],
            &[("csrf", &csrf), ("back", "review")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location.starts_with("/dashboard/review?done=reconciled"),
        "{location}"
    );
    let (status, location) = d
        .post(
            &cookie,
            &format!("/dashboard/payments/{id}/reconcile"),
            &[],
            &[("csrf", &csrf), ("back", "https://evil.example/")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location.starts_with(&format!("/dashboard/payments/{id}?done=")),
        "never a URL from the form: {location}"
    );

    // Signing out ends the session; its token no longer works.
    let (status, _) = d
        .post(&cookie, "/dashboard/logout", &[], &[("csrf", &csrf)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        d.page(&cookie, "/dashboard/").await.0,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_queries_get_pages_that_say_what_is_wrong() {
    let d = Dashboard::start().await;
    d.create("ORDER-1", "0712345678").await;
    let (cookie, _) = d.session().await;
    let long = "x".repeat(100);
    for (path, status, says) in [
        (
            format!("/dashboard/payments?q={long}"),
            StatusCode::BAD_REQUEST,
            "at most 64",
        ),
        (
            "/dashboard/payments?state=paid%27--".to_owned(),
            StatusCode::BAD_REQUEST,
            "Pick a state",
        ),
        (
            "/dashboard/payments?from=2026-13-01".to_owned(),
            StatusCode::BAD_REQUEST,
            "a date like",
        ),
        (
            "/dashboard/payments?from=2026-12-08&to=2026-12-01".to_owned(),
            StatusCode::BAD_REQUEST,
            "before the first",
        ),
        (
            "/dashboard/payments?after=garbage".to_owned(),
            StatusCode::BAD_REQUEST,
            "page link is broken",
        ),
        (
            "/dashboard/payments?q=%3Cscript%3Ealert(1)%3C/script%3E".to_owned(),
            StatusCode::OK,
            "&lt;script&gt;",
        ),
        (
            "/dashboard/payments/att_nope".to_owned(),
            StatusCode::NOT_FOUND,
            "no such payment",
        ),
        (
            "/dashboard/payments/%3Cb%3E".to_owned(),
            StatusCode::NOT_FOUND,
            "no such payment",
        ),
        (
            "/dashboard/review?after=1.%27".to_owned(),
            StatusCode::BAD_REQUEST,
            "page link is broken",
        ),
        (
            "/dashboard/export.csv".to_owned(),
            StatusCode::BAD_REQUEST,
            "first and the last day",
        ),
        (
            "/dashboard/export.csv?from=2020-01-01&to=2026-01-01".to_owned(),
            StatusCode::BAD_REQUEST,
            "at most 366 days",
        ),
    ] {
        let (got, page) = d.page(&cookie, &path).await;
        assert_eq!(got, status, "{path}: {page}");
        assert!(page.contains(says), "{path} does not say {says:?}: {page}");
        assert!(!page.contains("<script>"), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_is_csv_with_masked_phones_and_local_times() {
    let d = Dashboard::start().await;
    d.create("ORDER-1", "0712345678").await;
    // (A reference cannot start a spreadsheet formula: the API refuses `=…`.)
    d.create("ORDER-2", "0712345679").await;
    let (cookie, _) = d.session().await;
    let zone = jiff::tz::TimeZone::get("Africa/Nairobi").unwrap();
    let today = jiff::Timestamp::now().to_zoned(zone).date().to_string();
    let answer = d
        .http
        .get(d.url(&format!("/dashboard/export.csv?from={today}&to={today}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(
        answer.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("payments-shop-{today}-to-{today}.csv"))
    );
    let text = answer.text().await.unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "order,amount_kes,phone,state,receipt,provider,provider_payment_id,created (Africa/Nairobi),updated (Africa/Nairobi),attempt_id"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows[0].starts_with("ORDER-2,100,2547******79,"), "{text}");
    assert!(rows[1].starts_with("ORDER-1,100,2547******78,"), "{text}");
    assert!(rows[1].contains(&today));
    assert!(!text.contains("712345678"));
}
