//! From the JS `UnattendedInstallConfig` to an [`InstallRequest`], collecting every
//! problem into one `INVALID_CONFIG` error (spec §14.1 format) before anything is built.
//!
//! The spec's four checks come first with its exact messages. Infinivirt adds the
//! checks of what the target installer would reject or misread (documented in
//! COMPATIBILITY.md): user and host names, product key shape, locale, time zone,
//! applications and scripts. OS-specific checks run only for an OS we know; an unknown
//! OS passes the constructor, as in the spec, and generation reports `UNSUPPORTED_OS`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::config::{Application, Family, Firmware, InstallRequest, Locale, ScriptRun, ScriptShell, ScriptSource, Target};
use super::error::UnattendedError;
use super::escape;
use super::template::{self, TemplateError};
use crate::secret::Secret;

/// Caps that keep answer media small and messages readable.
const MAX_APPLICATIONS: usize = 200;
const MAX_SCRIPTS: usize = 200;
const MAX_COMMAND_BYTES: usize = 64 * 1024;
pub const MAX_SCRIPT_BYTES: usize = 1024 * 1024;
const MAX_PASSWORD_CHARS: usize = 127;

/// Names Windows keeps for built-in accounts and groups (compared case-insensitively).
const WINDOWS_RESERVED_USERS: &[&str] =
    &["administrator", "administrators", "guest", "guests", "defaultaccount", "defaultuser0", "wdagutilityaccount", "system", "users", "everyone"];
/// Characters Windows refuses in a local user name.
const WINDOWS_USER_BAD_CHARS: &str = "\"/\\[]:;|=,+*?<>@";
/// Accounts every Debian/Fedora system already has.
const LINUX_RESERVED_USERS: &[&str] = &[
    "root",
    "daemon",
    "bin",
    "sys",
    "sync",
    "games",
    "man",
    "lp",
    "mail",
    "news",
    "uucp",
    "proxy",
    "www-data",
    "backup",
    "list",
    "irc",
    "nobody",
    "adm",
    "ftp",
    "halt",
    "shutdown",
    "operator",
    "systemd-network",
];

/// Parses and checks a config. `Err` is always `INVALID_CONFIG`.
pub fn parse(config: &Value) -> Result<InstallRequest, UnattendedError> {
    let empty = Map::new();
    let obj = config.as_object().unwrap_or(&empty);
    let mut errs: Vec<String> = Vec::new();

    // --- the spec's checks, in its order and words
    let vm_id = non_blank(obj.get("vmId"));
    if vm_id.is_none() {
        errs.push("VM ID is required".into());
    }
    let os = obj.get("os").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    if os.is_none() {
        errs.push("Operating system type is required".into());
    }
    let username = non_blank(obj.get("username"));
    if username.is_none() {
        errs.push("Username is required".into());
    }
    let password = obj.get("password").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    if password.is_none() {
        errs.push("Password is required".into());
    }

    let target = os.as_deref().and_then(Target::parse);
    let family = target.map(Target::family);
    let vm_id = vm_id.unwrap_or_default();

    // --- optional strings must be strings (isValidInstallConfig's rule)
    let opt = |key: &str, errs: &mut Vec<String>| -> Option<String> {
        match obj.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                errs.push(format!("{key} must be a string"));
                None
            }
        }
    };
    let product_key = opt("productKey", &mut errs).and_then(|k| check_product_key(&k, &mut errs));
    let locale = match opt("locale", &mut errs) {
        Some(l) => check_locale(&l, &mut errs),
        None => Some(Locale { language: "en".into(), country: "US".into() }),
    };
    let timezone_in = opt("timezone", &mut errs).unwrap_or_else(|| "UTC".to_string());
    let hostname_in = opt("hostname", &mut errs);
    let firmware = match opt("firmware", &mut errs).as_deref() {
        None | Some("bios") => Firmware::Bios,
        Some("uefi") => Firmware::Uefi,
        Some(other) => {
            errs.push(format!("Firmware {} must be 'bios' or 'uefi'", shown(other)));
            Firmware::Bios
        }
    };
    if let Some(p) = &password {
        if p.contains('\0') {
            errs.push("Password must not contain NUL characters".into());
        }
        if family == Some(Family::Windows) && p.chars().count() > MAX_PASSWORD_CHARS {
            errs.push(format!("Password is longer than the {MAX_PASSWORD_CHARS} characters Windows accepts"));
        }
    }

    // --- names and time zone, per target
    let hostname = hostname_in.clone().unwrap_or_else(|| default_hostname(&vm_id));
    let mut timezone = timezone_in.clone();
    if let (Some(t), Some(user)) = (target, username.as_deref()) {
        check_username(t.family(), user, &mut errs);
        if t.family() == Family::Windows && user.eq_ignore_ascii_case(&hostname) {
            errs.push(format!("Username {} must differ from the computer name on Windows", shown(user)));
        }
    }
    if let Some(t) = target {
        check_hostname(t.family(), &hostname, hostname_in.is_some(), &mut errs);
        if let Some(tz) = check_timezone(t.family(), &timezone_in, &mut errs) {
            timezone = tz;
        }
    }

    // --- applications and scripts
    let applications = match (obj.get("applications"), target) {
        (None | Some(Value::Null), _) => Vec::new(),
        (Some(Value::Array(list)), Some(t)) => parse_applications(list, t, &mut errs),
        (Some(Value::Array(_)), None) => Vec::new(),
        (Some(_), _) => {
            errs.push("applications must be an array".into());
            Vec::new()
        }
    };
    let scripts = match (obj.get("scripts"), target) {
        (None | Some(Value::Null), _) => Vec::new(),
        (Some(Value::Array(list)), Some(t)) => parse_scripts(list, t, &mut errs),
        (Some(Value::Array(_)), None) => Vec::new(),
        (Some(_), _) => {
            errs.push("scripts must be an array".into());
            Vec::new()
        }
    };

    if !errs.is_empty() {
        return Err(UnattendedError::InvalidConfig { vm_id: (!vm_id.is_empty()).then_some(vm_id), errors: errs });
    }
    Ok(InstallRequest {
        vm_id,
        os: os.unwrap_or_default(),
        target,
        username: username.unwrap_or_default(),
        password: Secret::new(password.unwrap_or_default()),
        product_key,
        locale: locale.unwrap_or(Locale { language: "en".into(), country: "US".into() }),
        timezone,
        hostname,
        firmware,
        applications,
        scripts,
    })
}

/// The target of a parsed request, or `UNSUPPORTED_OS` (spec message).
pub fn target_of(req: &InstallRequest) -> Result<Target, UnattendedError> {
    req.target.ok_or_else(|| UnattendedError::UnsupportedOs { vm_id: Some(req.vm_id.clone()), os: req.os.clone() })
}

fn non_blank(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).filter(|s| !s.trim().is_empty()).map(str::to_string)
}

/// A user value as messages show it: quoted, control characters visible, cut at 64 chars.
pub(crate) fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(64).flat_map(char::escape_debug).collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    format!("'{out}'")
}

fn default_hostname(vm_id: &str) -> String {
    let tag: String = vm_id.chars().filter(char::is_ascii_alphanumeric).take(8).collect::<String>().to_ascii_lowercase();
    if tag.is_empty() {
        "infinivirt-vm".to_string()
    } else {
        format!("vm-{tag}")
    }
}

fn check_product_key(k: &str, errs: &mut Vec<String>) -> Option<String> {
    let up = k.trim().to_ascii_uppercase();
    let groups: Vec<&str> = up.split('-').collect();
    let ok = groups.len() == 5 && groups.iter().all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_alphanumeric()));
    if ok {
        Some(up)
    } else {
        errs.push("Product key must have the form XXXXX-XXXXX-XXXXX-XXXXX-XXXXX (letters and digits)".into());
        None
    }
}

fn check_locale(l: &str, errs: &mut Vec<String>) -> Option<Locale> {
    let base = l.strip_suffix(".UTF-8").or_else(|| l.strip_suffix(".utf8")).unwrap_or(l);
    let parts: Vec<&str> = base.split(['_', '-']).collect();
    if let [lang, country] = parts[..] {
        let lang_ok = (2..=3).contains(&lang.len()) && lang.bytes().all(|b| b.is_ascii_lowercase());
        let country_ok = country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase());
        if lang_ok && country_ok {
            return Some(Locale { language: lang.to_string(), country: country.to_string() });
        }
    }
    errs.push(format!("Locale {} must look like en_US (language_COUNTRY)", shown(l)));
    None
}

fn check_username(family: Family, user: &str, errs: &mut Vec<String>) {
    let mut bad = |why: &str| errs.push(format!("Username {} is not valid for {}: {why}", shown(user), family_name(family)));
    match family {
        Family::Windows => {
            if user.chars().count() > 20 {
                bad("at most 20 characters");
            } else if let Some(c) = user.chars().find(|c| WINDOWS_USER_BAD_CHARS.contains(*c) || c.is_control()) {
                bad(&format!("the character {c:?} is not allowed"));
            } else if user.trim() != user || user.ends_with('.') || user.chars().all(|c| c == '.' || c == ' ') {
                bad("no leading or trailing spaces, no trailing dot");
            } else if WINDOWS_RESERVED_USERS.contains(&user.to_ascii_lowercase().as_str()) {
                bad("the name of a built-in account");
            }
        }
        Family::Ubuntu | Family::Fedora => {
            let mut bytes = user.bytes();
            let first_ok = bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
            let rest_ok = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
            if !(first_ok && rest_ok && user.len() <= 32) {
                bad("1 to 32 of a-z 0-9 _ -, starting with a letter or _");
            } else if LINUX_RESERVED_USERS.contains(&user) {
                bad("the name of a system account");
            }
        }
    }
}

fn check_hostname(family: Family, host: &str, given: bool, errs: &mut Vec<String>) {
    let max = if family == Family::Windows { 15 } else { 63 };
    let b = host.as_bytes();
    let chars_ok = !b.is_empty() && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-');
    let edges_ok = chars_ok && b[0] != b'-' && b[b.len() - 1] != b'-';
    let why = if b.len() > max {
        Some(format!("at most {max} characters"))
    } else if !edges_ok {
        Some("letters, digits and '-', not starting or ending with '-'".to_string())
    } else if b.iter().all(u8::is_ascii_digit) {
        Some("not only digits".to_string())
    } else {
        None
    };
    if let Some(why) = why {
        let what = if given { "Hostname" } else { "Hostname derived from the VM ID" };
        errs.push(format!("{what} {} is not valid for {}: {why}", shown(host), family_name(family)));
    }
}

fn family_name(f: Family) -> &'static str {
    match f {
        Family::Windows => "Windows",
        Family::Ubuntu => "Ubuntu",
        Family::Fedora => "Fedora",
    }
}

fn is_iana_shape(tz: &str) -> bool {
    tz.len() <= 64
        && tz
            .split('/')
            .all(|seg| !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-')) && seg.as_bytes()[0] != b'-')
}

/// The time zone as the target wants it: an IANA name for Linux; for Windows a
/// Windows time zone ID, given directly or mapped from a common IANA name.
fn check_timezone(family: Family, tz: &str, errs: &mut Vec<String>) -> Option<String> {
    match family {
        Family::Ubuntu | Family::Fedora => {
            if is_iana_shape(tz) {
                Some(tz.to_string())
            } else {
                errs.push(format!("Timezone {} must be an IANA name such as Europe/Madrid or UTC", shown(tz)));
                None
            }
        }
        Family::Windows => {
            if let Some(w) = windows_zone_for(tz) {
                return Some(w.to_string());
            }
            let windows_shape =
                tz.len() <= 64 && (tz.contains(' ') || tz.starts_with("UTC")) && tz.bytes().all(|b| b.is_ascii_alphanumeric() || b" .()+-".contains(&b));
            if windows_shape {
                Some(tz.to_string())
            } else {
                errs.push(format!("Timezone {} has no Windows equivalent here; pass a Windows time zone ID such as 'W. Europe Standard Time'", shown(tz)));
                None
            }
        }
    }
}

/// IANA → Windows time zone IDs for the zones people commonly pick.
pub fn windows_zone_for(iana: &str) -> Option<&'static str> {
    const MAP: &[(&str, &str)] = &[
        ("UTC", "UTC"),
        ("Etc/UTC", "UTC"),
        ("GMT", "UTC"),
        ("Etc/GMT", "UTC"),
        ("Europe/London", "GMT Standard Time"),
        ("Europe/Dublin", "GMT Standard Time"),
        ("Europe/Lisbon", "GMT Standard Time"),
        ("Europe/Madrid", "Romance Standard Time"),
        ("Europe/Paris", "Romance Standard Time"),
        ("Europe/Brussels", "Romance Standard Time"),
        ("Europe/Copenhagen", "Romance Standard Time"),
        ("Europe/Berlin", "W. Europe Standard Time"),
        ("Europe/Amsterdam", "W. Europe Standard Time"),
        ("Europe/Rome", "W. Europe Standard Time"),
        ("Europe/Vienna", "W. Europe Standard Time"),
        ("Europe/Stockholm", "W. Europe Standard Time"),
        ("Europe/Oslo", "W. Europe Standard Time"),
        ("Europe/Zurich", "W. Europe Standard Time"),
        ("Europe/Warsaw", "Central European Standard Time"),
        ("Europe/Prague", "Central Europe Standard Time"),
        ("Europe/Budapest", "Central Europe Standard Time"),
        ("Europe/Athens", "GTB Standard Time"),
        ("Europe/Bucharest", "GTB Standard Time"),
        ("Europe/Helsinki", "FLE Standard Time"),
        ("Europe/Kyiv", "FLE Standard Time"),
        ("Europe/Kiev", "FLE Standard Time"),
        ("Europe/Istanbul", "Turkey Standard Time"),
        ("Europe/Moscow", "Russian Standard Time"),
        ("America/New_York", "Eastern Standard Time"),
        ("America/Toronto", "Eastern Standard Time"),
        ("America/Chicago", "Central Standard Time"),
        ("America/Denver", "Mountain Standard Time"),
        ("America/Phoenix", "US Mountain Standard Time"),
        ("America/Los_Angeles", "Pacific Standard Time"),
        ("America/Vancouver", "Pacific Standard Time"),
        ("America/Anchorage", "Alaskan Standard Time"),
        ("Pacific/Honolulu", "Hawaiian Standard Time"),
        ("America/Mexico_City", "Central Standard Time (Mexico)"),
        ("America/Bogota", "SA Pacific Standard Time"),
        ("America/Santiago", "Pacific SA Standard Time"),
        ("America/Sao_Paulo", "E. South America Standard Time"),
        ("America/Argentina/Buenos_Aires", "Argentina Standard Time"),
        ("Africa/Cairo", "Egypt Standard Time"),
        ("Africa/Johannesburg", "South Africa Standard Time"),
        ("Africa/Lagos", "W. Central Africa Standard Time"),
        ("Asia/Dubai", "Arabian Standard Time"),
        ("Asia/Kolkata", "India Standard Time"),
        ("Asia/Singapore", "Singapore Standard Time"),
        ("Asia/Shanghai", "China Standard Time"),
        ("Asia/Hong_Kong", "China Standard Time"),
        ("Asia/Seoul", "Korea Standard Time"),
        ("Asia/Tokyo", "Tokyo Standard Time"),
        ("Australia/Perth", "W. Australia Standard Time"),
        ("Australia/Brisbane", "E. Australia Standard Time"),
        ("Australia/Sydney", "AUS Eastern Standard Time"),
        ("Australia/Melbourne", "AUS Eastern Standard Time"),
        ("Pacific/Auckland", "New Zealand Standard Time"),
    ];
    MAP.iter().find(|(i, _)| *i == iana).map(|(_, w)| *w)
}

/// A value of `parameters` / `inputValues` as text: strings, numbers and booleans.
mod software;
pub use software::{expand_script, script_template_error};
use software::{parse_applications, parse_scripts};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base(os: &str) -> Value {
        json!({ "vmId": "550e8400-e29b-41d4", "os": os, "username": "alice", "password": "s3cret!" })
    }

    fn with(os: &str, extra: Value) -> Value {
        let mut v = base(os);
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    fn errors_of(v: &Value) -> Vec<String> {
        match parse(v) {
            Err(UnattendedError::InvalidConfig { errors, .. }) => errors,
            other => panic!("expected INVALID_CONFIG, got {other:?}"),
        }
    }

    #[test]
    fn spec_messages_for_missing_fields() {
        let e = parse(&json!({ "vmId": " ", "os": "", "username": "", "password": "" })).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid unattended install configuration: VM ID is required, Operating system type is required, Username is required, Password is required"
        );
        assert_eq!(errors_of(&json!(null)).len(), 4);
    }

    #[test]
    fn unknown_os_passes_parse_and_fails_generation() {
        let r = parse(&base("beos")).unwrap();
        let e = target_of(&r).unwrap_err();
        assert_eq!(e.to_string(), "Unsupported operating system: beos");
    }

    #[test]
    fn defaults() {
        let r = parse(&base("ubuntu")).unwrap();
        assert_eq!(r.hostname, "vm-550e8400");
        assert_eq!(r.timezone, "UTC");
        assert_eq!(r.locale.posix_utf8(), "en_US.UTF-8");
        assert_eq!(r.firmware, Firmware::Bios);
        assert!(!format!("{r:?}").contains("s3cret"));
    }

    #[test]
    fn product_key_shape() {
        let r = parse(&with("windows10", json!({ "productKey": "vk7jg-nphtm-c97jm-9mpgt-3v66t" }))).unwrap();
        assert_eq!(r.product_key.as_deref(), Some("VK7JG-NPHTM-C97JM-9MPGT-3V66T"));
        for bad in ["VK7JG-NPHTM-C97JM-9MPGT", "VK7JG-NPHTM-C97JM-9MPGT-3V66", "VK7JG_NPHTM_C97JM_9MPGT_3V66T", "VK7JG-NPHTM-C97JM-9MPGT-3V6!T"] {
            let e = errors_of(&with("windows11", json!({ "productKey": bad })));
            assert_eq!(e, vec!["Product key must have the form XXXXX-XXXXX-XXXXX-XXXXX-XXXXX (letters and digits)"]);
        }
    }

    #[test]
    fn windows_usernames() {
        for ok in ["alice", "Alice Smith", "user.name", "Ünïcode-ok", "a2345678901234567890"] {
            assert!(parse(&with("windows10", json!({ "username": ok }))).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("a23456789012345678901", "at most 20 characters"),
            ("a<b", "'<' is not allowed"),
            ("a@b", "'@' is not allowed"),
            ("x\"y", "'\"' is not allowed"),
            ("tab\tx", "'\\t' is not allowed"),
            ("Administrator", "built-in account"),
            ("guest", "built-in account"),
            ("trailing.", "trailing dot"),
            (" lead", "leading"),
        ] {
            let e = errors_of(&with("windows10", json!({ "username": bad })));
            assert!(e[0].starts_with("Username '") && e[0].contains(why), "{bad}: {e:?}");
        }
        let e = errors_of(&with("windows10", json!({ "username": "desk1", "hostname": "DESK1" })));
        assert!(e[0].contains("must differ from the computer name"));
    }

    #[test]
    fn linux_usernames() {
        for ok in ["alice", "_svc", "a-b_c9"] {
            assert!(parse(&with("fedora", json!({ "username": ok }))).is_ok(), "{ok}");
        }
        for bad in ["Alice", "9lives", "root", "a b", "x$(id)", "a23456789012345678901234567890123", "ünï"] {
            let e = errors_of(&with("ubuntu", json!({ "username": bad })));
            assert!(e[0].contains("is not valid for Ubuntu"), "{bad}: {e:?}");
        }
    }

    #[test]
    fn hostnames() {
        assert!(parse(&with("ubuntu", json!({ "hostname": "web-01" }))).is_ok());
        let long = "a".repeat(16);
        assert!(parse(&with("ubuntu", json!({ "hostname": long }))).is_ok());
        let e = errors_of(&with("windows10", json!({ "hostname": long })));
        assert_eq!(e, vec![format!("Hostname '{long}' is not valid for Windows: at most 15 characters")]);
        for bad in ["-web", "web-", "we_b", "12345", "a.b", "a;reboot"] {
            assert!(errors_of(&with("fedora", json!({ "hostname": bad })))[0].starts_with("Hostname"), "{bad}");
        }
        let e = errors_of(&with("ubuntu", json!({ "hostname": "x".repeat(64) })));
        assert!(e[0].contains("at most 63"));
    }

    #[test]
    fn locales_and_timezones() {
        let r = parse(&with("windows11", json!({ "locale": "de_DE.UTF-8", "timezone": "Europe/Berlin" }))).unwrap();
        assert_eq!((r.locale.dashed(), r.timezone.as_str()), ("de-DE".to_string(), "W. Europe Standard Time"));
        let r = parse(&with("windows11", json!({ "timezone": "Pacific Standard Time" }))).unwrap();
        assert_eq!(r.timezone, "Pacific Standard Time");
        let e = errors_of(&with("windows10", json!({ "timezone": "Antarctica/Troll" })));
        assert!(e[0].contains("has no Windows equivalent"));
        let r = parse(&with("ubuntu", json!({ "timezone": "America/Argentina/Buenos_Aires" }))).unwrap();
        assert_eq!(r.timezone, "America/Argentina/Buenos_Aires");
        for bad in ["Pacific Standard Time", "../etc/passwd", "Europe//Paris", "$(id)"] {
            assert!(errors_of(&with("fedora", json!({ "timezone": bad })))[0].starts_with("Timezone"), "{bad}");
        }
        for bad in ["english", "en_us", "EN_US", "en_USA", "e_US"] {
            assert!(errors_of(&with("ubuntu", json!({ "locale": bad })))[0].starts_with("Locale"), "{bad}");
        }
        assert_eq!(errors_of(&with("ubuntu", json!({ "locale": 5 }))), vec!["locale must be a string"]);
    }

    fn app(os: Value, cmd: Value, params: Value) -> Value {
        json!({ "id": "a1", "name": "Tool", "os": os, "installCommand": cmd, "parameters": params })
    }

    #[test]
    fn applications_resolve_per_os_with_quoted_parameters() {
        let apps = json!([
            app(
                json!(["windows", "ubuntu"]),
                json!({ "windows": "choco install tool --params {{p}}", "ubuntu": "apt-get install -y tool={{v}}" }),
                json!({ "p": "a'b", "v": 2 })
            ),
            app(json!(["fedora"]), json!(["dnf -y install x"]), json!({})),
        ]);
        let r = parse(&with("ubuntu", json!({ "applications": apps.clone() }))).unwrap();
        assert_eq!(r.applications.len(), 1, "the fedora-only app is skipped");
        assert_eq!(r.applications[0].commands, vec!["apt-get install -y tool='2'"]);
        let r = parse(&with("windows11", json!({ "applications": apps }))).unwrap();
        assert_eq!(r.applications[0].commands, vec!["choco install tool --params 'a''b'"]);
    }

    #[test]
    fn application_errors() {
        let e = errors_of(&with("fedora", json!({ "applications": [app(json!([]), json!({ "windows": "x" }), json!({}))] })));
        assert_eq!(e, vec!["Application 'Tool' has no install command for fedora"]);
        let e = errors_of(&with("fedora", json!({ "applications": [app(json!([]), json!(["echo {{missing}}"]), json!({}))] })));
        assert_eq!(e, vec!["Application 'Tool' uses the undefined placeholder '{{missing}}'"]);
        let e = errors_of(&with("fedora", json!({ "applications": [app(json!([]), json!(["x"]), json!({ "o": {"a": 1} }))] })));
        assert_eq!(e, vec!["Application 'Tool': parameter 'o' must be a string, number or boolean"]);
        assert_eq!(errors_of(&with("fedora", json!({ "applications": {} }))), vec!["applications must be an array"]);
    }

    fn script(shell: &str, content: Option<&str>, file: &str, inputs: Value) -> Value {
        let mut s = json!({ "id": "s1", "name": "Setup", "fileName": file, "shell": shell });
        if let Some(c) = content {
            s["content"] = json!(c);
        }
        json!({ "script": s, "inputValues": inputs, "executionId": "e1" })
    }

    #[test]
    fn scripts() {
        let r = parse(&with("ubuntu", json!({ "scripts": [script("BASH", Some("echo {{who}}"), "x.sh", json!({ "who": "w" }))] }))).unwrap();
        assert_eq!(r.scripts[0].source, ScriptSource::Inline("echo {{who}}".into()));
        let r = parse(&with("windows10", json!({ "scripts": [script("POWERSHELL", None, "setup.ps1", json!({}))] }))).unwrap();
        assert_eq!(r.scripts[0].source, ScriptSource::File("setup.ps1".into()));
        let e = errors_of(&with("windows10", json!({ "scripts": [script("BASH", Some("x"), "a", json!({}))] })));
        assert_eq!(e, vec!["Script 'Setup' uses shell BASH, which windows10 cannot run"]);
        let e = errors_of(&with("fedora", json!({ "scripts": [script("SH", None, "../etc/passwd", json!({}))] })));
        assert!(e[0].contains("must be a plain file name"));
        let e = errors_of(&with("windows10", json!({ "scripts": [script("CMD", Some("echo {{v}}"), "a.cmd", json!({ "v": "100%" }))] })));
        assert_eq!(e, vec!["Script 'Setup': value of 'v' contains '%', which cannot be passed to cmd.exe safely"]);
        let e = errors_of(&with("fedora", json!({ "scripts": [script("SH", Some("echo {{nope}}"), "a", json!({}))] })));
        assert_eq!(e, vec!["Script 'Setup' uses the undefined placeholder '{{nope}}'"]);
    }

    #[test]
    fn password_never_appears_in_errors() {
        let v = with("windows10", json!({ "password": "x".repeat(200), "username": "Administrator" }));
        let e = parse(&v).unwrap_err();
        assert!(!e.to_string().contains(&"x".repeat(20)));
        assert!(e.to_string().contains("longer than the 127 characters"));
    }
}
