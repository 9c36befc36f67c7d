//! Windows 10/11 `autounattend.xml` and the files its first-logon commands run.
//!
//! Medium layout (found by Setup's implicit search of removable media and CD roots):
//! `/autounattend.xml`, `/infinivirt/vm.id`, `/infinivirt/apps/NN.ps1`,
//! `/infinivirt/scripts/NN.ps1|cmd`. The first first-logon command copies
//! `/infinivirt` from whichever drive has `vm.id` to `C:\ProgramData\Infinivirt`;
//! each application and script then runs from there, and the last command shuts the
//! VM down so the install monitor sees the end. Command lines contain no user
//! values: names and code go into files, and every element text is XML-escaped.

use super::answer::{AnswerFile, AnswerFiles, Prepared};
use super::config::{Firmware, InstallRequest, ScriptShell, Target};
use super::escape::{self, xml};

const ARCH_ATTRS: &str = r#"processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS""#;
const INSTALL_DIR: &str = r"C:\ProgramData\Infinivirt";
/// Drive letters the virtio-win ISO may get (installer CD, drivers CD and this medium
/// take D: to F: in the order QEMU attaches them).
const DRIVER_LETTERS: [char; 3] = ['D', 'E', 'F'];
/// virtio-win folders Setup needs to see the disk and network.
const WINPE_DRIVERS: [&str; 3] = ["viostor", "vioscsi", "NetKVM"];
/// Added to the installed system.
const SYSTEM_DRIVERS: [&str; 6] = ["viostor", "vioscsi", "NetKVM", "Balloon", "vioserial", "viorng"];

/// A tiny indenting XML writer; all text and attribute values go through [`xml`].
struct Doc {
    out: String,
    depth: usize,
}

impl Doc {
    fn line(&mut self, s: &str) {
        self.out.push_str(&"  ".repeat(self.depth));
        self.out.push_str(s);
        self.out.push('\n');
    }
    fn open(&mut self, tag: &str, attrs: &str) {
        let sp = if attrs.is_empty() { "" } else { " " };
        self.line(&format!("<{tag}{sp}{attrs}>"));
        self.depth += 1;
    }
    fn close(&mut self, tag: &str) {
        self.depth -= 1;
        self.line(&format!("</{tag}>"));
    }
    fn leaf(&mut self, tag: &str, text: &str) {
        self.line(&format!("<{tag}>{}</{tag}>", xml(text)));
    }
    fn component(&mut self, name: &str) {
        self.open("component", &format!(r#"name="{name}" {ARCH_ATTRS}"#));
    }
}

fn add() -> &'static str {
    r#"wcm:action="add""#
}

/// Renders the answer medium of a Windows target.
pub fn render(req: &InstallRequest, target: Target, prep: &Prepared) -> AnswerFiles {
    let mut files = Vec::new();
    let mut commands: Vec<(String, String)> = vec![(copy_command(), "Copy the Infinivirt install files".into())];
    for (i, app) in req.applications.iter().enumerate() {
        let path = format!("infinivirt/apps/{:02}.ps1", i + 1);
        let mut body = transcript(&format!("app-{:02}", i + 1));
        body.push_str("$ErrorActionPreference = 'Continue'\r\n");
        for c in &app.commands {
            body.push_str(c);
            body.push_str("\r\n");
        }
        body.push_str("Stop-Transcript\r\n");
        commands.push((ps_file(&format!(r"apps\{:02}.ps1", i + 1)), format!("Install {}", app.name)));
        files.push(AnswerFile { path, content: body });
    }
    for (i, s) in prep.scripts.iter().enumerate() {
        let file = format!("{:02}.{}", i + 1, s.shell.extension());
        let (content, line) = match s.shell {
            ScriptShell::Cmd => (crlf(&s.text), format!(r"cmd.exe /c {INSTALL_DIR}\scripts\{file}")),
            _ => {
                let mut body = transcript(&format!("script-{:02}", i + 1));
                body.push_str(&s.text);
                body.push_str("\r\nStop-Transcript\r\n");
                (body, ps_file(&format!(r"scripts\{file}")))
            }
        };
        commands.push((line, format!("Run script {}", s.name)));
        files.push(AnswerFile { path: format!("infinivirt/scripts/{file}"), content });
    }
    commands.push(("shutdown.exe /s /t 15".into(), "Shut down: the installation is complete".into()));
    files.push(AnswerFile { path: "infinivirt/vm.id".into(), content: format!("{}\r\n", req.vm_id) });
    files.insert(0, AnswerFile { path: "autounattend.xml".into(), content: autounattend(req, target, &commands) });
    AnswerFiles { volume_id: "AUTOUNATTEND", files }
}

fn transcript(name: &str) -> String {
    format!("Start-Transcript -Path '{INSTALL_DIR}\\logs\\{name}.log' -Append | Out-Null\r\n")
}

fn crlf(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\n', "\r\n")
}

fn ps_file(rel: &str) -> String {
    format!(r"powershell.exe -NoProfile -ExecutionPolicy Bypass -File {INSTALL_DIR}\{rel}")
}

fn copy_command() -> String {
    format!(
        "powershell.exe -NoProfile -ExecutionPolicy Bypass -Command \"$d = Get-PSDrive -PSProvider FileSystem | Where-Object {{ Test-Path (Join-Path $_.Root 'infinivirt\\vm.id') }} | Select-Object -First 1; New-Item -ItemType Directory -Force -Path '{INSTALL_DIR}\\logs' | Out-Null; Copy-Item -Path (Join-Path $d.Root 'infinivirt\\*') -Destination '{INSTALL_DIR}' -Recurse -Force\""
    )
}

fn autounattend(req: &InstallRequest, target: Target, commands: &[(String, String)]) -> String {
    let mut d = Doc { out: String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"), depth: 0 };
    let locale = req.locale.dashed();
    let ver = if target == Target::Windows11 { "w11" } else { "w10" };
    d.open("unattend", r#"xmlns="urn:schemas-microsoft-com:unattend" xmlns:wcm="http://schemas.microsoft.com/WMIConfig/2002/State""#);

    // ---- windowsPE: language, storage/network drivers, disk, product key
    d.open("settings", r#"pass="windowsPE""#);
    d.component("Microsoft-Windows-International-Core-WinPE");
    d.open("SetupUILanguage", "");
    d.leaf("UILanguage", &locale);
    d.close("SetupUILanguage");
    for tag in ["InputLocale", "SystemLocale", "UILanguage", "UserLocale"] {
        d.leaf(tag, &locale);
    }
    d.close("component");
    d.component("Microsoft-Windows-PnpCustomizationsWinPE");
    driver_paths(&mut d, &WINPE_DRIVERS, ver);
    d.close("component");
    d.component("Microsoft-Windows-Setup");
    if target == Target::Windows11 {
        // Setup's hardware checks refuse VMs without a TPM / Secure Boot / 4 GB.
        d.open("RunSynchronous", "");
        for (i, check) in ["BypassTPMCheck", "BypassSecureBootCheck", "BypassRAMCheck"].iter().enumerate() {
            d.open("RunSynchronousCommand", add());
            d.leaf("Order", &(i + 1).to_string());
            d.leaf("Path", &format!(r"reg.exe add HKLM\SYSTEM\Setup\LabConfig /v {check} /t REG_DWORD /d 1 /f"));
            d.close("RunSynchronousCommand");
        }
        d.close("RunSynchronous");
    }
    let windows_partition = disk_configuration(&mut d, req.firmware);
    d.open("ImageInstall", "");
    d.open("OSImage", "");
    d.open("InstallTo", "");
    d.leaf("DiskID", "0");
    d.leaf("PartitionID", &windows_partition.to_string());
    d.close("InstallTo");
    d.close("OSImage");
    d.close("ImageInstall");
    d.open("UserData", "");
    d.leaf("AcceptEula", "true");
    if let Some(key) = &req.product_key {
        d.open("ProductKey", "");
        d.leaf("Key", key);
        d.leaf("WillShowUI", "OnError");
        d.close("ProductKey");
    }
    d.close("UserData");
    d.close("component");
    d.close("settings");

    // ---- offlineServicing: all virtio drivers into the installed system
    d.open("settings", r#"pass="offlineServicing""#);
    d.component("Microsoft-Windows-PnpCustomizationsNonWinPE");
    driver_paths(&mut d, &SYSTEM_DRIVERS, ver);
    d.close("component");
    d.close("settings");

    // ---- specialize: computer name, time zone
    d.open("settings", r#"pass="specialize""#);
    d.component("Microsoft-Windows-Shell-Setup");
    d.leaf("ComputerName", &req.hostname);
    d.leaf("TimeZone", &req.timezone);
    d.close("component");
    if target == Target::Windows11 {
        d.component("Microsoft-Windows-Deployment");
        d.open("RunSynchronous", "");
        d.open("RunSynchronousCommand", add());
        d.leaf("Order", "1");
        d.leaf("Path", r"reg.exe add HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\OOBE /v BypassNRO /t REG_DWORD /d 1 /f");
        d.close("RunSynchronousCommand");
        d.close("RunSynchronous");
        d.close("component");
    }
    d.close("settings");

    // ---- oobeSystem: locale, OOBE pages, the account, auto-logon, first-logon commands
    d.open("settings", r#"pass="oobeSystem""#);
    d.component("Microsoft-Windows-International-Core");
    for tag in ["InputLocale", "SystemLocale", "UILanguage", "UserLocale"] {
        d.leaf(tag, &locale);
    }
    d.close("component");
    d.component("Microsoft-Windows-Shell-Setup");
    d.open("OOBE", "");
    for tag in ["HideEULAPage", "HideOEMRegistrationScreen", "HideOnlineAccountScreens", "HideWirelessSetupInOOBE", "HideLocalAccountScreen"] {
        d.leaf(tag, "true");
    }
    d.leaf("ProtectYourPC", "3");
    d.close("OOBE");
    let encoded = escape::windows_password(req.password.expose(), "Password");
    d.open("UserAccounts", "");
    d.open("LocalAccounts", "");
    d.open("LocalAccount", add());
    d.leaf("Name", &req.username);
    d.leaf("DisplayName", &req.username);
    d.leaf("Group", "Administrators");
    d.open("Password", "");
    d.leaf("Value", &encoded);
    d.leaf("PlainText", "false");
    d.close("Password");
    d.close("LocalAccount");
    d.close("LocalAccounts");
    d.close("UserAccounts");
    d.open("AutoLogon", "");
    d.leaf("Enabled", "true");
    d.leaf("LogonCount", "1");
    d.leaf("Username", &req.username);
    d.open("Password", "");
    d.leaf("Value", &encoded);
    d.leaf("PlainText", "false");
    d.close("Password");
    d.close("AutoLogon");
    d.open("FirstLogonCommands", "");
    for (i, (line, description)) in commands.iter().enumerate() {
        d.open("SynchronousCommand", add());
        d.leaf("Order", &(i + 1).to_string());
        d.leaf("CommandLine", line);
        // Setup limits descriptions to 256 characters.
        d.leaf("Description", &description.chars().take(256).collect::<String>());
        d.leaf("RequiresUserInput", "false");
        d.close("SynchronousCommand");
    }
    d.close("FirstLogonCommands");
    d.close("component");
    d.close("settings");
    d.close("unattend");
    d.out
}

fn driver_paths(d: &mut Doc, drivers: &[&str], ver: &str) {
    d.open("DriverPaths", "");
    let mut key = 0;
    for letter in DRIVER_LETTERS {
        for drv in drivers {
            key += 1;
            d.open("PathAndCredentials", &format!(r#"wcm:action="add" wcm:keyValue="{key}""#));
            d.leaf("Path", &format!(r"{letter}:\{drv}\{ver}\amd64"));
            d.close("PathAndCredentials");
        }
    }
    d.close("DriverPaths");
}

/// A partition to create: type and size in MB (`None`: the rest of the disk).
type NewPartition = (&'static str, Option<u32>);
/// A partition to format: ID, file system, label.
type Formatted = (u32, &'static str, &'static str);

/// Wipes disk 0 and lays it out for the firmware; returns the Windows partition's ID.
fn disk_configuration(d: &mut Doc, firmware: Firmware) -> u32 {
    let (create, modify, windows): (&[NewPartition], &[Formatted], u32) = match firmware {
        Firmware::Bios => (&[("Primary", Some(500)), ("Primary", None)], &[(1, "NTFS", "System"), (2, "NTFS", "Windows")], 2),
        Firmware::Uefi => (&[("EFI", Some(300)), ("MSR", Some(16)), ("Primary", None)], &[(1, "FAT32", "System"), (3, "NTFS", "Windows")], 3),
    };
    d.open("DiskConfiguration", "");
    d.leaf("WillShowUI", "OnError");
    d.open("Disk", add());
    d.leaf("DiskID", "0");
    d.leaf("WillWipeDisk", "true");
    d.open("CreatePartitions", "");
    for (i, (kind, size)) in create.iter().enumerate() {
        d.open("CreatePartition", add());
        d.leaf("Order", &(i + 1).to_string());
        d.leaf("Type", kind);
        match size {
            Some(mb) => d.leaf("Size", &mb.to_string()),
            None => d.leaf("Extend", "true"),
        }
        d.close("CreatePartition");
    }
    d.close("CreatePartitions");
    d.open("ModifyPartitions", "");
    for (i, (id, format, label)) in modify.iter().enumerate() {
        d.open("ModifyPartition", add());
        d.leaf("Order", &(i + 1).to_string());
        d.leaf("PartitionID", &id.to_string());
        d.leaf("Format", format);
        d.leaf("Label", label);
        if *id == windows {
            d.leaf("Letter", "C");
        } else if firmware == Firmware::Bios {
            d.leaf("Active", "true");
        }
        d.close("ModifyPartition");
    }
    d.close("ModifyPartitions");
    d.close("Disk");
    d.close("DiskConfiguration");
    windows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unattended::answer::ResolvedScript;
    use crate::unattended::validate::parse;
    use serde_json::json;

    fn req(extra: serde_json::Value) -> InstallRequest {
        let mut v = json!({ "vmId": "vm-1", "os": "windows11", "username": "Bob & Co's", "password": "pw\"]]>'" });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        parse(&v).unwrap()
    }

    fn prep() -> Prepared {
        Prepared { scripts: vec![ResolvedScript { name: "cfg".into(), shell: ScriptShell::Cmd, text: "echo a\necho b".into() }], password_hash: String::new() }
    }

    #[test]
    fn escapes_user_values_and_hides_the_password() {
        let r = req(json!({ "productKey": "VK7JG-NPHTM-C97JM-9MPGT-3V66T", "timezone": "Europe/Madrid" }));
        let f = render(&r, Target::Windows11, &prep());
        let x = f.get("autounattend.xml").unwrap();
        assert!(x.contains("<Name>Bob &amp; Co&apos;s</Name>"));
        assert!(!x.contains("pw\"") && !x.contains("pw&quot;"), "clear password written");
        assert!(x.contains(&escape::windows_password("pw\"]]>'", "Password")));
        assert!(x.contains("<TimeZone>Romance Standard Time</TimeZone>"));
        assert!(x.contains("<Key>VK7JG-NPHTM-C97JM-9MPGT-3V66T</Key>"));
        assert!(x.contains(r"<Path>E:\viostor\w11\amd64</Path>"));
        assert!(x.contains("BypassTPMCheck"));
        assert_eq!(f.get("infinivirt/scripts/01.cmd"), Some("echo a\r\necho b"));
        assert_eq!(f.volume_id, "AUTOUNATTEND");
    }

    #[test]
    fn first_logon_commands_are_ordered_and_end_with_shutdown() {
        let apps = json!([{ "id": "1", "name": "7zip", "os": ["windows"], "installCommand": ["winget install {{id}}"], "parameters": { "id": "7zip.7zip" } }]);
        let r = req(json!({ "applications": apps }));
        let f = render(&r, Target::Windows11, &prep());
        let x = f.get("autounattend.xml").unwrap();
        let orders: Vec<&str> = x.lines().filter(|l| l.contains("<Order>")).collect();
        assert!(orders.len() >= 4);
        assert!(x.contains(r"-File C:\ProgramData\Infinivirt\apps\01.ps1"));
        assert!(x.contains(r"cmd.exe /c C:\ProgramData\Infinivirt\scripts\01.cmd"));
        let last = x.rfind("<CommandLine>").unwrap();
        assert!(x[last..].starts_with("<CommandLine>shutdown.exe /s /t 15</CommandLine>"));
        assert!(f.get("infinivirt/apps/01.ps1").unwrap().contains("winget install '7zip.7zip'"));
    }

    #[test]
    fn partition_layout_follows_the_firmware() {
        let bios = render(&req(json!({})), Target::Windows10, &prep());
        assert!(bios.get("autounattend.xml").unwrap().contains("<Active>true</Active>"));
        assert!(bios.get("autounattend.xml").unwrap().contains(r"\w10\amd64"));
        let uefi = render(&req(json!({ "firmware": "uefi" })), Target::Windows10, &prep());
        let x = uefi.get("autounattend.xml").unwrap();
        assert!(x.contains("<Type>EFI</Type>") && x.contains("<PartitionID>3</PartitionID>") && !x.contains("<Active>"));
    }
}
