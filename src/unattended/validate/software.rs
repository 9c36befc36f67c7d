//! The applications and scripts of an install request: each entry checked, its
//! template inputs collected and quoted for the target's shell.

use super::*;

pub(super) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(super) fn values_of(v: Option<&Value>, what: &str, owner: &str, errs: &mut Vec<String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, val) in m {
                match scalar_text(val) {
                    Some(t) if t.contains('\0') => errs.push(format!("{owner}: {what} '{k}' contains a NUL character")),
                    Some(t) => {
                        out.insert(k.clone(), t);
                    }
                    None => errs.push(format!("{owner}: {what} '{k}' must be a string, number or boolean")),
                }
            }
        }
        Some(_) => errs.push(format!("{owner}: {what} must be an object")),
    }
    out
}

pub(super) fn quote_for(family: Family) -> fn(&str) -> Result<String, char> {
    match family {
        Family::Windows => |s| Ok(escape::powershell(s)),
        Family::Ubuntu | Family::Fedora => |s| Ok(escape::shell(s)),
    }
}

pub(super) fn template_message(owner: &str, e: TemplateError) -> String {
    match e {
        TemplateError::Undefined(name) => {
            format!("{owner} uses the undefined placeholder '{{{{{name}}}}}'")
        }
        TemplateError::Unquotable { name, ch } => {
            format!("{owner}: value of '{name}' contains {ch:?}, which cannot be passed to cmd.exe safely")
        }
    }
}

pub(super) fn parse_applications(list: &[Value], t: Target, errs: &mut Vec<String>) -> Vec<Application> {
    if list.len() > MAX_APPLICATIONS {
        errs.push(format!("At most {MAX_APPLICATIONS} applications are supported"));
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let Some(app) = v.as_object() else {
            errs.push(format!("Application {i} must be an object"));
            continue;
        };
        let name = app.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        let owner = if name.is_empty() { format!("Application {i}") } else { format!("Application {}", shown(&name)) };
        if name.trim().is_empty() {
            errs.push(format!("Application {i}: name is required"));
        }
        let id = app.get("id").and_then(scalar_text).unwrap_or_default();
        // `os` names the systems the application is for; others skip it.
        let oses: Vec<String> = match app.get("os") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_ascii_lowercase).collect(),
            Some(_) => {
                errs.push(format!("{owner}: os must be an array of strings"));
                continue;
            }
        };
        if !oses.is_empty() && !oses.iter().any(|o| t.aliases().contains(&o.as_str())) {
            continue;
        }
        let params = values_of(app.get("parameters"), "parameter", &owner, errs);
        let raw: Vec<String> = match app.get("installCommand") {
            Some(Value::Array(cmds)) => {
                if cmds.iter().any(|c| !c.is_string()) {
                    errs.push(format!("{owner}: installCommand entries must be strings"));
                    continue;
                }
                cmds.iter().filter_map(Value::as_str).map(str::to_string).collect()
            }
            Some(Value::Object(map)) => {
                let lower: Vec<(String, &Value)> = map.iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
                let hit = t.aliases().iter().find_map(|a| lower.iter().find(|(k, _)| k == a).map(|(_, v)| *v));
                match hit.and_then(Value::as_str) {
                    Some(c) => vec![c.to_string()],
                    None => {
                        errs.push(format!("{owner} has no install command for {}", t.name()));
                        continue;
                    }
                }
            }
            _ => {
                errs.push(format!("{owner}: installCommand must be an object keyed by OS or an array of commands"));
                continue;
            }
        };
        let mut commands = Vec::new();
        let before = errs.len();
        for c in raw.iter().filter(|c| !c.trim().is_empty()) {
            if c.len() > MAX_COMMAND_BYTES || c.contains('\0') {
                errs.push(format!("{owner}: an install command is longer than 64 KiB or contains NUL"));
                continue;
            }
            match template::expand(c, &params, quote_for(t.family())) {
                Ok(x) => commands.push(x),
                Err(e) => errs.push(template_message(&owner, e)),
            }
        }
        if errs.len() > before {
            continue;
        }
        if commands.is_empty() {
            errs.push(format!("{owner} has no install command for {}", t.name()));
            continue;
        }
        out.push(Application { id, name, commands });
    }
    out
}

pub(super) fn parse_scripts(list: &[Value], t: Target, errs: &mut Vec<String>) -> Vec<ScriptRun> {
    if list.len() > MAX_SCRIPTS {
        errs.push(format!("At most {MAX_SCRIPTS} scripts are supported"));
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let Some(run) = v.as_object() else {
            errs.push(format!("Script {i} must be an object"));
            continue;
        };
        let Some(script) = run.get("script").and_then(Value::as_object) else {
            errs.push(format!("Script {i}: script is required"));
            continue;
        };
        let name = script.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        let owner = if name.is_empty() { format!("Script {i}") } else { format!("Script {}", shown(&name)) };
        let shell_raw = script.get("shell").and_then(Value::as_str).unwrap_or("");
        let Some(shell) = ScriptShell::parse(shell_raw) else {
            errs.push(format!("{owner}: shell {} must be POWERSHELL, CMD, BASH or SH", shown(shell_raw)));
            continue;
        };
        if !shell.runs_on(t.family()) {
            errs.push(format!("{owner} uses shell {}, which {} cannot run", shell.name(), t.name()));
            continue;
        }
        let source = match (script.get("content"), script.get("fileName").and_then(Value::as_str)) {
            (Some(Value::String(c)), _) => {
                if c.len() > MAX_SCRIPT_BYTES || c.contains('\0') {
                    errs.push(format!("{owner}: content is larger than 1 MiB or contains NUL"));
                    continue;
                }
                ScriptSource::Inline(c.clone())
            }
            (Some(v), _) if !v.is_null() => {
                errs.push(format!("{owner}: content must be a string"));
                continue;
            }
            (_, Some(f)) if is_plain_file_name(f) => ScriptSource::File(f.to_string()),
            (_, Some(f)) => {
                errs.push(format!("{owner}: fileName {} must be a plain file name", shown(f)));
                continue;
            }
            (_, None) => {
                errs.push(format!("{owner} needs content or a fileName"));
                continue;
            }
        };
        let inputs = values_of(run.get("inputValues"), "input", &owner, errs);
        let before = errs.len();
        if shell == ScriptShell::Cmd {
            for (k, v) in &inputs {
                if let Err(ch) = escape::cmd(v) {
                    errs.push(template_message(&owner, TemplateError::Unquotable { name: k.clone(), ch }));
                }
            }
        }
        // Inline texts are expanded now so a missing input is reported before any build.
        if let (ScriptSource::Inline(text), true) = (&source, errs.len() == before) {
            if let Err(e) = expand_script(text, shell, &inputs) {
                errs.push(template_message(&owner, e));
            }
        }
        out.push(ScriptRun {
            id: script.get("id").and_then(scalar_text).unwrap_or_default(),
            name,
            shell,
            source,
            inputs,
            execution_id: run.get("executionId").and_then(scalar_text).unwrap_or_default(),
        });
    }
    out
}

/// A script text with its inputs substituted, quoted for its shell.
pub fn expand_script(text: &str, shell: ScriptShell, inputs: &BTreeMap<String, String>) -> Result<String, TemplateError> {
    match shell {
        ScriptShell::PowerShell => template::expand(text, inputs, |s| Ok(escape::powershell(s))),
        ScriptShell::Cmd => template::expand(text, inputs, escape::cmd),
        ScriptShell::Bash | ScriptShell::Sh => template::expand(text, inputs, |s| Ok(escape::shell(s))),
    }
}

/// Reports a template failure of a file-backed script (read at build time).
pub fn script_template_error(vm_id: &str, run: &ScriptRun, e: TemplateError) -> UnattendedError {
    let owner = if run.name.is_empty() { "Script".to_string() } else { format!("Script {}", shown(&run.name)) };
    UnattendedError::invalid(Some(vm_id), template_message(&owner, e))
}

pub(super) fn is_plain_file_name(f: &str) -> bool {
    !f.is_empty()
        && f.len() <= 255
        && f != "."
        && f != ".."
        && !f.starts_with('-')
        && f.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b' '))
}
