//! The validated form of the JS `UnattendedInstallConfig` (spec §17.12) that the
//! renderers consume. Built only by [`crate::unattended::validate::parse`]; every
//! string in here has passed the target OS's rules, so rendering cannot fail.

use std::collections::BTreeMap;

use crate::secret::Secret;

/// The OS an answer file is written for (spec `OSType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Windows10,
    Windows11,
    Ubuntu,
    Fedora,
}

/// How the target's installer is driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Windows,
    Ubuntu,
    Fedora,
}

impl Target {
    /// Spec `OSType` spelling; upper case is accepted too (`Windows10`).
    pub fn parse(os: &str) -> Option<Target> {
        match os.trim().to_ascii_lowercase().as_str() {
            "windows10" => Some(Target::Windows10),
            "windows11" => Some(Target::Windows11),
            "ubuntu" => Some(Target::Ubuntu),
            "fedora" => Some(Target::Fedora),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Target::Windows10 => "windows10",
            Target::Windows11 => "windows11",
            Target::Ubuntu => "ubuntu",
            Target::Fedora => "fedora",
        }
    }

    pub fn family(self) -> Family {
        match self {
            Target::Windows10 | Target::Windows11 => Family::Windows,
            Target::Ubuntu => Family::Ubuntu,
            Target::Fedora => Family::Fedora,
        }
    }

    /// Names an application's `os` list or `installCommand` keys may use for this
    /// target, most specific first.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Target::Windows10 => &["windows10", "windows"],
            Target::Windows11 => &["windows11", "windows"],
            Target::Ubuntu => &["ubuntu", "debian", "linux"],
            Target::Fedora => &["fedora", "redhat", "rhel", "linux"],
        }
    }
}

/// `ll_CC` with an optional `.UTF-8` suffix on input; rendered per OS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locale {
    pub(crate) language: String,
    pub(crate) country: String,
}

impl Locale {
    /// `en-US` (Windows).
    pub fn dashed(&self) -> String {
        format!("{}-{}", self.language, self.country)
    }

    /// `en_US.UTF-8` (Ubuntu, kickstart).
    pub fn posix_utf8(&self) -> String {
        format!("{}_{}.UTF-8", self.language, self.country)
    }
}

/// Firmware the VM boots with; decides the Windows partition layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    Bios,
    Uefi,
}

/// `ScriptShell` of the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptShell {
    PowerShell,
    Cmd,
    Bash,
    Sh,
}

impl ScriptShell {
    pub fn parse(s: &str) -> Option<ScriptShell> {
        match s {
            "POWERSHELL" => Some(ScriptShell::PowerShell),
            "CMD" => Some(ScriptShell::Cmd),
            "BASH" => Some(ScriptShell::Bash),
            "SH" => Some(ScriptShell::Sh),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ScriptShell::PowerShell => "POWERSHELL",
            ScriptShell::Cmd => "CMD",
            ScriptShell::Bash => "BASH",
            ScriptShell::Sh => "SH",
        }
    }

    pub fn runs_on(self, family: Family) -> bool {
        match self {
            ScriptShell::PowerShell | ScriptShell::Cmd => family == Family::Windows,
            ScriptShell::Bash | ScriptShell::Sh => family != Family::Windows,
        }
    }

    /// File extension of the script as written to the media.
    pub fn extension(self) -> &'static str {
        match self {
            ScriptShell::PowerShell => "ps1",
            ScriptShell::Cmd => "cmd",
            ScriptShell::Bash | ScriptShell::Sh => "sh",
        }
    }

    /// The interpreter on Linux (`bash` / `sh`).
    pub fn interpreter(self) -> &'static str {
        match self {
            ScriptShell::Bash => "bash",
            _ => "sh",
        }
    }
}

/// An application to install, its commands already resolved for the target and its
/// `{{parameters}}` substituted (each value quoted for the target's shell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub id: String,
    pub name: String,
    /// Shell (Linux) or PowerShell (Windows) commands, run in order.
    pub commands: Vec<String>,
}

/// Where a script's text comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptSource {
    /// `script.content` (an Infinivirt addition).
    Inline(String),
    /// `script.fileName`, read from the installer's scripts directory when the media are built.
    File(String),
}

/// A first-boot script and the values for its `{{inputs}}` (not yet substituted:
/// the text may still have to be read from a file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptRun {
    pub id: String,
    pub name: String,
    pub shell: ScriptShell,
    pub source: ScriptSource,
    pub inputs: BTreeMap<String, String>,
    pub execution_id: String,
}

/// A checked `UnattendedInstallConfig`. `target` is `None` for an OS the native
/// generator does not know: the constructor accepts it (spec §14.1) and generation
/// reports `UNSUPPORTED_OS`.
#[derive(Debug, Clone)]
pub struct InstallRequest {
    pub vm_id: String,
    pub os: String,
    pub target: Option<Target>,
    pub username: String,
    pub password: Secret,
    pub product_key: Option<String>,
    pub locale: Locale,
    /// Windows time zone ID for Windows targets, IANA name otherwise.
    pub timezone: String,
    pub hostname: String,
    pub firmware: Firmware,
    pub applications: Vec<Application>,
    pub scripts: Vec<ScriptRun>,
}
