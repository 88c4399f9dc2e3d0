use super::*;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn env(name: &str) -> Option<String> {
    match name {
        "DUKA_KEY" => Some("duka-key-0123456789".to_owned()),
        "DUKA_HOOK_SECRET" => Some(SECRET.to_owned()),
        "DUKA_PASSKEY" => Some("passkey-hush".to_owned()),
        _ => None,
    }
}

fn parse(text: &str) -> Result<Vec<AccountSpec>, ConfigError> {
    AccountsFile::parse(text, Path::new("/srv/stk"), env)
}

fn two_accounts() -> String {
    format!(
        r#"
[accounts.duka]
api_key = {{ env = "DUKA_KEY" }}
database = "duka.db"
webhook_url = "https://duka.example/stk?token=hush"
webhook_secret = {{ env = "DUKA_HOOK_SECRET" }}
payments_per_second = 5
default_provider = "daraja"

[accounts.duka.providers.mock]
delay_ms = 10

[accounts.duka.providers.daraja]
environment = "sandbox"
consumer_key = "ck"
consumer_secret = "cs-hush"
shortcode = 174379
passkey = {{ env = "DUKA_PASSKEY" }}
callback_url = "https://duka.example/v1/callbacks/duka/daraja"

[accounts.till-2]
api_key_sha256 = "{}"
database = "postgres://stk@db.internal/till2"

[accounts.till-2.providers.mock]
"#,
        hash("till-key-0123456789")
    )
}

#[test]
fn two_accounts_side_by_side() {
    let specs = parse(&two_accounts()).unwrap();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["duka", "till-2"]);
    let duka = &specs[0];
    assert!(duka.config.accepts("duka-key-0123456789"));
    assert!(!duka.config.accepts("till-key-0123456789"));
    assert!(specs[1].config.accepts("till-key-0123456789"));
    assert_eq!(duka.config.payments_per_second, 5);
    assert_eq!(specs[1].config.payments_per_second, 20, "the default");
    assert!(duka.config.webhook.is_some() && specs[1].config.webhook.is_none());
    assert_eq!(duka.database, "/srv/stk/duka.db", "relative to the file");
    assert_eq!(specs[1].database, "postgres://stk@db.internal/till2");
    let kinds: Vec<ProviderKind> = duka.providers.iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        [ProviderKind::Daraja, ProviderKind::Mock],
        "default first"
    );
    let with_password =
        parse(&two_accounts().replace("stk@db.internal", "stk:pg-hush@db.internal")).unwrap();
    assert!(
        !format!("{with_password:?}").contains("pg-hush"),
        "a database password stays hidden"
    );
    let shown = format!("{specs:?}");
    for secret in ["hush", "duka-key", "MfKQ", "passkey-hush"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[test]
fn providers_build_from_their_tables() {
    let specs = parse(&two_accounts()).unwrap();
    let (mock, handle) = specs[1].providers[0].build().unwrap();
    assert_eq!(mock.name(), "mock");
    assert!(
        handle.is_some(),
        "the fake provider's handle, for its callbacks"
    );
    let (daraja, handle) = specs[0].providers[0].build().unwrap();
    assert_eq!(daraja.name(), "daraja");
    assert!(handle.is_none());
}

/// Every mistake names the file's key and says why.
#[test]
fn bad_files_say_where_and_why() {
    let good = two_accounts();
    let cases: Vec<(String, &str, &str)> = vec![
        ("[accounts.duka\n".to_owned(), "(syntax)", "line"),
        (String::new(), "accounts", "no [accounts"),
        (
            good.replace("[accounts.till-2]", "[accounts.Till]"),
            "accounts.Till",
            "lowercase",
        ),
        (
            good.replace("payments_per_second = 5", "payments_per_second = 0"),
            "accounts.duka.payments_per_second",
            "1 to 10000",
        ),
        (
            good.replace("payments_per_second = 5", "payment_per_second = 5"),
            "accounts.duka.payment_per_second",
            "typo",
        ),
        (
            good.replace(
                "api_key = { env = \"DUKA_KEY\" }",
                "api_key = \"duka-key-0123456789\"",
            ),
            "accounts.duka.api_key",
            "not written in the file",
        ),
        (
            good.replace(
                "api_key = { env = \"DUKA_KEY\" }",
                "api_key = { env = \"NOPE\" }",
            ),
            "accounts.duka.api_key",
            "NOPE, which is not set",
        ),
        (
            good.replace("api_key = { env = \"DUKA_KEY\" }", ""),
            "accounts.duka.api_key_sha256",
            "sha256sum",
        ),
        (
            good.replace(&hash("till-key-0123456789"), "abc"),
            "accounts.till-2.api_key_sha256",
            "64 characters",
        ),
        (
            good.replace(
                "https://duka.example/stk?token=hush",
                "http://duka.example/stk",
            ),
            "accounts.duka.webhook_url",
            "https",
        ),
        (
            good.replace("webhook_secret = { env = \"DUKA_HOOK_SECRET\" }", ""),
            "accounts.duka.webhook_secret",
            "signed",
        ),
        (
            good.replace("database = \"duka.db\"", ""),
            "accounts.duka.database",
            "own database",
        ),
        (
            good.replace("postgres://stk@db.internal/till2", "/srv/stk/duka.db"),
            "accounts.till-2.database",
            "same database",
        ),
        (
            good.replace(
                "postgres://stk@db.internal/till2",
                "sqlite:///srv/stk/./sub/../duka.db?mode=rwc",
            ),
            "accounts.till-2.database",
            "same database",
        ),
        (
            good.replace(
                "database = \"duka.db\"",
                "database = \"postgresql://other@DB.internal:5432/till2\"",
            ),
            "accounts.till-2.database",
            "same database",
        ),
        (
            good.replace(
                "[accounts.duka.providers.mock]",
                "[accounts.duka.providers.MOCK]",
            ),
            "accounts.duka.providers.MOCK",
            "lowercase",
        ),
        (
            good.replace(
                "api_key = { env = \"DUKA_KEY\" }",
                "api_key = 123456789012345678",
            ),
            "accounts.duka.api_key",
            "not written in the file",
        ),
        (
            good.replace("[accounts.till-2]", "[accounts.daraja]")
                .replace("[accounts.till-2.", "[accounts.daraja."),
            "accounts.daraja",
            "named like a provider",
        ),
        (
            good.replace("default_provider = \"daraja\"", ""),
            "accounts.duka.default_provider",
            "several providers",
        ),
        (
            good.replace(
                "default_provider = \"daraja\"",
                "default_provider = \"lipia\"",
            ),
            "accounts.duka.default_provider",
            "not one of",
        ),
        (
            good.replace(
                "[accounts.till-2.providers.mock]",
                "[accounts.till-2.providers.mpesa]",
            ),
            "accounts.till-2.providers.mpesa",
            "no such provider",
        ),
        (
            good.replace("delay_ms = 10", "delay_ms = [10]"),
            "accounts.duka.providers.mock.delay_ms",
            "array",
        ),
        (
            good.replace("[accounts.till-2.providers.mock]", ""),
            "accounts.till-2.providers",
            "no provider",
        ),
    ];
    for (text, key, why) in cases {
        let err = parse(&text).expect_err(key);
        assert_eq!(err.key, key, "{err}");
        assert!(err.reason.contains(why), "{key}: {err}");
        for secret in ["hush", "duka-key", "MfKQ"] {
            assert!(!err.to_string().contains(secret), "{err}");
        }
    }
}

#[test]
fn a_provider_setting_it_does_not_read_is_refused() {
    let text = two_accounts().replace("delay_ms = 10", "delay = 10");
    let err = parse(&text).unwrap()[0].providers[1].build().unwrap_err();
    assert_eq!(err.key, "accounts.duka.providers.mock.delay", "{err}");
    assert!(err.reason.contains("delay_ms"), "says what it reads: {err}");
}

#[test]
fn a_provider_error_names_the_files_key() {
    let text = two_accounts().replace("shortcode = 174379", "");
    let text = text.replace("environment = \"sandbox\"", "environment = \"production\"");
    let err = parse(&text).unwrap()[0].providers[0].build().unwrap_err();
    assert_eq!(err.key, "accounts.duka.providers.daraja", "{err}");
    assert!(err.reason.contains("shortcode"), "{err}");
    assert!(!err.reason.contains("DARAJA_SHORTCODE"), "{err}");
    assert!(!err.to_string().contains("cs-hush"), "{err}");
}

#[test]
fn read_names_the_file() {
    let dir = std::env::temp_dir().join(format!("stk-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("stk.toml");
    std::fs::write(&path, "[accounts.duka]\n").unwrap();
    let err = AccountsFile::read(&path, env).unwrap_err();
    assert_eq!(err.file.as_deref(), Some(path.as_path()));
    assert!(
        err.to_string().starts_with(&path.display().to_string()),
        "{err}"
    );
    std::fs::write(&path, two_accounts()).unwrap();
    let file = AccountsFile::read(&path, env).unwrap();
    assert_eq!(
        file.accounts[0].database,
        dir.join("duka.db").to_string_lossy()
    );
    let missing = AccountsFile::read(&dir.join("nope.toml"), env).unwrap_err();
    assert!(missing.reason.contains("cannot read"), "{missing}");
    std::fs::remove_dir_all(&dir).unwrap();
}

proptest! {
    /// Any text is read or refused with a reason; nothing panics.
    #[test]
    fn hostile_files_are_refused_not_fatal(text in "\\PC{0,300}") {
        if let Err(e) = parse(&text) {
            prop_assert!(!e.reason.is_empty());
        }
    }

    /// Mangled lines of a good file are refused or read; nothing panics.
    #[test]
    fn mangled_good_files(cut in 0usize..1200, junk in "[\\[\\]{}=\"a-z0-9 .\n]{0,20}") {
        let good = two_accounts();
        let cut = cut.min(good.len());
        let cut = (0..=cut).rev().find(|i| good.is_char_boundary(*i)).unwrap_or(0);
        let text = format!("{}{junk}{}", &good[..cut], &good[cut..]);
        let _ = parse(&text);
    }
}
