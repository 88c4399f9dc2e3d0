//! Database URLs: SQLite paths as the driver will open them, and URLs with their secrets
//! hidden for messages.

use std::path::Path;

use crate::store::StoreError;

/// The URL without its user information or any password query parameter. A connection
/// string that is not a URL is hidden whole if it mentions a password.
pub(crate) fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return if url.to_ascii_lowercase().contains("password") {
            "[connection string hidden: it has a password]".to_owned()
        } else {
            url.to_owned()
        };
    };
    // The user information ends at the last `@` (a raw `?`, `/` or `@` in a password stays
    // on this side); then host, path and query.
    let rest = match url.rfind('@') {
        Some(at) if at > scheme_end => format!("…@{}", &url[at + 1..]),
        _ => url[scheme_end + 3..].to_owned(),
    };
    let (base, query) = rest.split_once('?').unwrap_or((&rest, ""));
    let mut shown = format!("{}://{base}", &url[..scheme_end]);
    if !query.is_empty() {
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.to_ascii_lowercase().contains("password") => {
                    format!("{key}=…")
                }
                _ => pair.to_owned(),
            })
            .collect();
        shown = format!("{shown}?{}", query.join("&"));
    }
    shown
}

/// `message` with every password `url` may carry (user information, a `password` query
/// parameter or `password=` setting, as written and percent-decoded) replaced, wherever a
/// driver's error repeats it.
pub(crate) fn scrub(message: &str, url: &str) -> String {
    let mut secrets: Vec<String> = Vec::new();
    if let (Some(scheme_end), Some(at)) = (url.find("://"), url.rfind('@')) {
        if at > scheme_end {
            if let Some((_, password)) = url[scheme_end + 3..at].split_once(':') {
                secrets.push(password.to_owned());
            }
        }
    }
    // URL query parameters, and `key=value` settings of a connection string.
    let pairs = url.split(['?', '&']).chain(url.split(' '));
    for pair in pairs {
        if let Some((key, value)) = pair.split_once('=') {
            if key.to_ascii_lowercase().contains("password") {
                secrets.push(value.to_owned());
            }
        }
    }
    let decoded: Vec<String> = secrets.iter().map(|s| percent_decode(s)).collect();
    secrets.extend(decoded);
    secrets.retain(|s| !s.is_empty());
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.iter().fold(message.to_owned(), |text, secret| {
        text.replace(secret.as_str(), "…")
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `sqlite://` URL of `path` (made absolute, every byte but the unreserved ones
/// percent-encoded, as the SQLite driver decodes them) with `params`.
pub(super) fn sqlite_url(path: &Path, params: &str) -> String {
    // The directory resolved (symbolic links, `..`): the driver reads the URL through a URL
    // parser that would fold `..` by text, opening another file than the one named.
    let absolute = match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
        .map(|dir| dir.join(name))
        .ok(),
        _ => None,
    }
    .or_else(|| std::path::absolute(path).ok())
    .unwrap_or_else(|| path.to_path_buf());
    let mut encoded = String::new();
    for &byte in absolute.as_os_str().as_encoded_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-_.~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    if !encoded.starts_with('/') {
        encoded.insert(0, '/');
    }
    format!("sqlite://{encoded}?{params}")
}

/// A SQLite URL in any documented form, as the one form the driver reads well: absolute
/// path, percent-encoded, `mode=rwc` (and the directory created) unless a mode is given.
pub(super) fn normalize_sqlite_url(url: &str) -> Result<String, StoreError> {
    let lower = url.to_ascii_lowercase();
    let prefix = if lower.starts_with("sqlite://") { 9 } else { 7 };
    let rest = url.get(prefix..).unwrap_or_default();
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    if database == ":memory:" || database.is_empty() {
        return Ok(url.to_owned());
    }
    let path = std::path::PathBuf::from(percent_decode_path(database));
    let has_mode = params.split('&').any(|p| p.starts_with("mode="));
    let params = if has_mode {
        params.to_owned()
    } else {
        create_parent(&path)?;
        if params.is_empty() {
            "mode=rwc".to_owned()
        } else {
            format!("{params}&mode=rwc")
        }
    };
    Ok(sqlite_url(&path, &params))
}

/// A path part of a URL decoded (`%XX` only: `+` stays a plus in a path).
fn percent_decode_path(text: &str) -> String {
    percent_decode(&text.replace('+', "%2B"))
}

pub(super) fn create_parent(path: &Path) -> Result<(), StoreError> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::new(format!("cannot create {}: {e}", dir.display()))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    /// What the SQLite driver will open for `url`.
    fn opened(url: &str) -> std::path::PathBuf {
        sqlx::sqlite::SqliteConnectOptions::from_str(url)
            .unwrap()
            .get_filename()
            .to_path_buf()
    }

    #[test]
    fn every_documented_sqlite_form_opens_the_file_it_names() {
        let abs = std::env::temp_dir().join("stk forms/pay?ments%41#1.db");
        let relative = std::path::absolute("relative.db").unwrap();
        let encoded = abs
            .display()
            .to_string()
            .replace('%', "%25")
            .replace('?', "%3F")
            .replace('#', "%23");
        for (url, expected) in [
            (format!("sqlite://{encoded}"), &abs),
            (format!("sqlite:{encoded}"), &abs),
            ("sqlite://relative.db".to_owned(), &relative),
            ("sqlite:relative.db".to_owned(), &relative),
        ] {
            let normalized = normalize_sqlite_url(&url).unwrap();
            assert!(normalized.ends_with("?mode=rwc"), "{normalized}");
            assert_eq!(&opened(&normalized), expected, "{url}");
        }
        assert_eq!(
            normalize_sqlite_url("sqlite::memory:").unwrap(),
            "sqlite::memory:"
        );
        let given = normalize_sqlite_url("sqlite:///tmp/x.db?mode=ro").unwrap();
        assert!(given.ends_with("?mode=ro"), "{given}");
        let upper = normalize_sqlite_url("SQLITE://relative.db").unwrap();
        assert_eq!(&opened(&upper), &relative);
    }

    /// `link/../payments.db` is the file the operating system would open (beside the link's
    /// target), not the one a textual `..` fold names.
    #[test]
    fn dot_dot_through_a_symbolic_link_opens_what_the_system_would() {
        let dir = std::env::temp_dir().join(format!("stk-link-{}", fastrand::u64(..)));
        std::fs::create_dir_all(dir.join("real/inner")).unwrap();
        std::os::unix::fs::symlink(dir.join("real/inner"), dir.join("link")).unwrap();
        let url = sqlite_url(&dir.join("link/../payments.db"), "mode=rwc");
        let expected = std::fs::canonicalize(dir.join("real"))
            .unwrap()
            .join("payments.db");
        assert_eq!(opened(&url), expected);
        let _ = std::fs::remove_dir_all(&dir);
    }

    proptest! {
        /// Any file name survives the URL: the driver opens exactly the path given.
        #[test]
        fn sqlite_urls_round_trip(name in "[a-zA-Z0-9 ?%#&=+;:@!'()\u{e9}\u{4e2d}_.-]{1,30}") {
            let path = std::env::temp_dir().join(&name);
            prop_assert_eq!(opened(&sqlite_url(&path, "mode=rwc")), std::path::absolute(&path).unwrap());
        }

        /// No password reaches an error message, whatever the URL's form, percent-encoded or
        /// written raw (`?`, `/`, `@`, `:` and `#` included).
        #[test]
        fn passwords_never_shown(password in "[a-zA-Z0-9%@:/?#+-]{4,20}", user in "[a-z]{1,8}") {
            let encoded: String = password.bytes().map(|b| format!("%{b:02X}")).collect();
            for url in [
                format!("postgres://{user}:{encoded}@db.example:5432/pay"),
                format!("postgres://{user}:{password}@db.example:5432/pay"),
                format!("postgres://{user}@db.example/pay?sslmode=disable&password={encoded}"),
                format!("postgres://db.example/pay?user={user}&password={encoded}&sslmode=require"),
                format!("host=db.example user={user} password={password}"),
            ] {
                let driver_said = format!("error connecting to {url} as {user} with password {password}");
                let message = scrub(&format!("({}) {driver_said}", redact(&url)), &url);
                prop_assert!(!message.contains(&encoded), "{}", message);
                prop_assert!(!message.contains(&password), "{}", message);
            }
        }
    }
}
