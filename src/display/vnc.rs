//! `VncConfig` (spec §7.2): validated VNC options rendered as `-vnc` / `-vga std`.

use serde::Serialize;
use serde_json::Value;

use super::addr::address_problem;
use super::error::{Console, DisplayError, DisplayErrorCode as C, DisplayIssue};
use super::{DisplayCommandArgs, ValidationResult};

pub const VNC_BASE_PORT: u16 = 5900;
pub const VNC_MAX_PASSWORD_LENGTH: u32 = 8;
pub const DEFAULT_VNC_ADDR: &str = "0.0.0.0";
pub const MAX_VNC_DISPLAY: u8 = 99;
/// Id of the `-object secret` carrying a VNC password.
pub const VNC_SECRET_ID: &str = "infinivirt-vnc-secret0";

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VncConfigOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<bool>,
    /// A file holding the VNC password, read by QEMU through `-object secret`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_secret_file: Option<String>,
}

#[derive(Debug, Clone)]
pub struct VncConfig {
    display: u8,
    addr: String,
    password: bool,
    password_secret_file: Option<String>,
}

impl VncConfig {
    pub fn new(o: VncConfigOptions) -> Result<Self, DisplayError> {
        let options = serde_json::to_value(&o).unwrap_or(Value::Null);
        if let Some(e) = DisplayError::from_issues(Console::Vnc, issues(&o), options) {
            return Err(e);
        }
        #[allow(clippy::cast_possible_truncation)] // validated: an integer in 0..=99
        let display = o.display.unwrap_or_default() as u8;
        Ok(VncConfig {
            display,
            addr: o.addr.unwrap_or_else(|| DEFAULT_VNC_ADDR.to_string()),
            password: o.password.unwrap_or(false),
            password_secret_file: o.password_secret_file,
        })
    }

    pub fn validate(&self) -> ValidationResult {
        ValidationResult::from_issues(issues(&VncConfigOptions {
            display: Some(f64::from(self.display)),
            addr: Some(self.addr.clone()),
            password: Some(self.password),
            password_secret_file: self.password_secret_file.clone(),
        }))
    }

    /// `-vnc <addr>:<display>[,password=on] -vga std`; with a secret file,
    /// `-object secret,…` first and `password-secret=` instead of `password=on`.
    pub fn generate_args(&self) -> DisplayCommandArgs {
        let mut args = Vec::new();
        let mut vnc = format!("{}:{}", vnc_host(&self.addr), self.display);
        if let Some(file) = &self.password_secret_file {
            args.extend(super::secret_object_args(VNC_SECRET_ID, file));
            vnc.push_str(&format!(",password-secret={VNC_SECRET_ID}"));
        } else if self.password {
            vnc.push_str(",password=on");
        }
        args.extend(["-vnc".to_string(), vnc, "-vga".into(), "std".into()]);
        DisplayCommandArgs { args, vga_type: "std" }
    }

    pub fn display(&self) -> u8 {
        self.display
    }

    pub fn port(&self) -> u16 {
        VNC_BASE_PORT + u16::from(self.display)
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn has_password(&self) -> bool {
        self.password || self.password_secret_file.is_some()
    }
}

/// The host part of `-vnc <host>:<display>`: IPv6 addresses need brackets there, or
/// QEMU would read their last group as the display number.
pub fn vnc_host(addr: &str) -> String {
    if addr.contains(':') {
        format!("[{addr}]")
    } else {
        addr.to_string()
    }
}

/// `5900 + display`, no validation (spec).
pub fn display_to_port(display: f64) -> f64 {
    f64::from(VNC_BASE_PORT) + display
}

/// `port - 5900`, no validation (spec).
pub fn port_to_display(port: f64) -> f64 {
    port - f64::from(VNC_BASE_PORT)
}

fn issues(o: &VncConfigOptions) -> Vec<DisplayIssue> {
    let mut v = Vec::new();
    match o.display {
        Some(d) if d.is_finite() && d.fract() == 0.0 => {
            if !(0.0..=f64::from(MAX_VNC_DISPLAY)).contains(&d) {
                v.push(DisplayIssue::new(C::INVALID_DISPLAY_NUMBER, "Display number must be between 0 and 99"));
            }
        }
        _ => v.push(DisplayIssue::new(C::INVALID_DISPLAY_NUMBER, "Display number must be an integer")),
    }
    if let Some(problem) = address_problem(o.addr.as_deref().unwrap_or(DEFAULT_VNC_ADDR)) {
        v.push(DisplayIssue::new(C::INVALID_ADDRESS, problem));
    }
    if let Some(f) = &o.password_secret_file {
        if f.is_empty() || f.chars().any(char::is_control) {
            v.push(DisplayIssue::new(C::INVALID_PASSWORD, "passwordSecretFile must be a non-empty path without control characters"));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorShape;

    fn disp(d: f64) -> VncConfigOptions {
        VncConfigOptions { display: Some(d), ..Default::default() }
    }

    #[test]
    fn spec_17_and_53() {
        assert_eq!(VncConfig::new(disp(3.0)).unwrap().generate_args().args, ["-vnc", "0.0.0.0:3", "-vga", "std"]);
        assert_eq!(display_to_port(1.0), 5901.0);
        assert_eq!(port_to_display(5901.0), 1.0);
        assert_eq!(VncConfig::new(VncConfigOptions { password: Some(true), ..disp(7.0) }).unwrap().port(), 5907);
    }

    #[test]
    fn spec_54_validation() {
        let e = VncConfig::new(disp(100.0)).unwrap_err();
        assert_eq!(e.code(), "INVALID_DISPLAY_NUMBER");
        assert_eq!(e.to_string(), "VNC configuration validation failed: Display number must be between 0 and 99");
        assert_eq!(VncConfig::new(disp(1.5)).unwrap_err().to_string(), "VNC configuration validation failed: Display number must be an integer");
        let e = VncConfig::new(VncConfigOptions { addr: Some(String::new()), ..disp(1.0) }).unwrap_err();
        assert_eq!((e.code(), e.to_string().as_str()), ("INVALID_ADDRESS", "VNC configuration validation failed: Address cannot be empty"));
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        let c = VncConfig::new(VncConfigOptions { addr: Some("::1".into()), ..disp(1.0) }).unwrap();
        assert_eq!(c.generate_args().args[1], "[::1]:1");
    }

    #[test]
    fn secret_form() {
        let c = VncConfig::new(VncConfigOptions { password_secret_file: Some("/run/v".into()), ..disp(2.0) }).unwrap();
        assert_eq!(
            c.generate_args().args,
            ["-object", "secret,id=infinivirt-vnc-secret0,file=/run/v,format=raw", "-vnc", "0.0.0.0:2,password-secret=infinivirt-vnc-secret0", "-vga", "std"]
        );
    }
}
