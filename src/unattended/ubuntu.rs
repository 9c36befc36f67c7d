//! Ubuntu Server autoinstall (subiquity, schema version 1), delivered as cloud-init
//! NoCloud data: `/user-data` and `/meta-data` on a volume labelled `CIDATA`.
//!
//! Both files are written as JSON (valid YAML; see [`escape::yaml_json`]), so no user
//! value can change the document's structure. The password is a SHA-512 crypt hash.
//! Applications run as `late-commands` in the installed system (`curtin in-target`,
//! given as argv lists, so only the application's own command goes through a shell);
//! scripts are written by cloud-init on the first boot (`write_files`) and run from
//! `runcmd`. `shutdown: poweroff` ends the install so the monitor sees it finish.

use serde_json::{json, Value};

use super::answer::{AnswerFile, AnswerFiles, Prepared};
use super::config::InstallRequest;
use super::escape;

/// Where first-boot scripts are written in the guest.
const SCRIPT_DIR: &str = "/var/lib/infinivirt/scripts";

pub fn render(req: &InstallRequest, prep: &Prepared) -> AnswerFiles {
    let late: Vec<Value> =
        req.applications.iter().flat_map(|a| a.commands.iter()).map(|c| json!(["curtin", "in-target", "--target=/target", "--", "sh", "-c", c])).collect();
    let mut write_files = Vec::new();
    let mut runcmd = Vec::new();
    for (i, s) in prep.scripts.iter().enumerate() {
        let path = format!("{SCRIPT_DIR}/{:02}.sh", i + 1);
        write_files.push(json!({ "path": path, "permissions": "0700", "owner": "root:root", "content": s.text }));
        runcmd.push(json!([s.shell.interpreter(), path]));
    }
    let mut autoinstall = json!({
        "version": 1,
        "locale": req.locale.posix_utf8(),
        "keyboard": { "layout": "us" },
        "timezone": req.timezone,
        "identity": {
            "hostname": req.hostname,
            "username": req.username,
            "realname": req.username,
            "password": prep.password_hash,
        },
        "ssh": { "install-server": false },
        "storage": { "layout": { "name": "lvm" } },
        "late-commands": late,
        "shutdown": "poweroff",
    });
    if !write_files.is_empty() {
        autoinstall["user-data"] = json!({ "write_files": write_files, "runcmd": runcmd });
    }
    let user_data = format!("#cloud-config\n{}\n", escape::yaml_json(&json!({ "autoinstall": autoinstall })));
    let meta_data = format!("{}\n", escape::yaml_json(&json!({ "instance-id": format!("iid-{}", req.vm_id), "local-hostname": req.hostname })));
    AnswerFiles {
        volume_id: "CIDATA",
        files: vec![AnswerFile { path: "user-data".into(), content: user_data }, AnswerFile { path: "meta-data".into(), content: meta_data }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unattended::answer::ResolvedScript;
    use crate::unattended::config::ScriptShell;
    use crate::unattended::validate::parse;

    #[test]
    fn user_data_is_cloud_config_json_with_hash_and_commands() {
        let apps = json!([{ "id": "1", "name": "x", "os": [], "installCommand": { "ubuntu": "apt-get install -y {{p}}" }, "parameters": { "p": "$(reboot)\n'`id`" } }]);
        let r = parse(&json!({ "vmId": "vm\"1", "os": "ubuntu", "username": "alice", "password": "pw", "applications": apps })).unwrap();
        let prep = Prepared {
            scripts: vec![ResolvedScript { name: "s".into(), shell: ScriptShell::Bash, text: "echo ]]> \u{2028} done".into() }],
            password_hash: "$6$salt$hash".into(),
        };
        let f = render(&r, &prep);
        let ud = f.get("user-data").unwrap();
        assert!(ud.starts_with("#cloud-config\n"));
        let v: Value = serde_json::from_str(&ud["#cloud-config\n".len()..]).unwrap();
        let ai = &v["autoinstall"];
        assert_eq!(ai["identity"]["password"], "$6$salt$hash");
        assert_eq!(ai["late-commands"][0][6], "apt-get install -y '$(reboot)\n'\\''`id`'");
        assert_eq!(ai["user-data"]["write_files"][0]["content"], "echo ]]> \u{2028} done");
        assert_eq!(ai["user-data"]["runcmd"][0], json!(["bash", "/var/lib/infinivirt/scripts/01.sh"]));
        assert!(!ud.contains('\u{2028}'));
        assert!(!ud.contains("\"pw\""));
        let md: Value = serde_json::from_str(f.get("meta-data").unwrap()).unwrap();
        assert_eq!(md["instance-id"], "iid-vm\"1");
        assert_eq!(f.volume_id, "CIDATA");
    }
}
