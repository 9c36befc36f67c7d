//! Starting a stopped VM from its stored row (spec §5.6): the same journal, claim,
//! network and launch steps as create (`vm.rs`), over what the row holds.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::config::check_internal_name;
use super::error::{LifecycleError, LifecycleErrorCode as C};
use super::journal::{remove_quietly, Entry, Journal, Op};
use super::spec::{vhost_for, Resolved, VmSpec};
use super::undo::{journal_error, Made};
use super::vm::{hugepages_for, live_pid_or_clear, path_string, qemu_uuid, stored_cores, wrap, OperationResult, Started, VmLifecycle, NS};
use crate::state::status::VmStatus;

impl VmLifecycle {
    // ------------------------------------------------------------------ start

    /// Spec §5.6: starts a stopped VM from its stored configuration. Refused unless the
    /// VM is off or in error (a `running` VM whose QEMU is gone counts as off).
    pub async fn start(&self, vm_id: &str) -> Result<OperationResult, LifecycleError> {
        Ok(self.start_detailed(vm_id).await?.0)
    }

    /// [`Self::start`], plus the new QEMU's PID and TAP when it started one (for the
    /// `power_on` event).
    pub async fn start_detailed(&self, vm_id: &str) -> Result<(OperationResult, Option<Started>), LifecycleError> {
        let _guard = self.lock(vm_id).await?;
        let mut vm = self.load_vm(vm_id, C::START_FAILED).await?;
        if vm.status == VmStatus::Running {
            if self.runs(&vm) {
                let r = OperationResult { success: true, message: format!("VM {vm_id} is already running"), vm_id: vm_id.into(), forced: None };
                return Ok((r, None));
            }
            self.store.update_machine_status(vm_id, &VmStatus::Off).await.map_err(wrap(C::START_FAILED, vm_id))?;
            self.store.clear_volatile_machine_configuration(vm_id).await.map_err(wrap(C::START_FAILED, vm_id))?;
            vm = self.load_vm(vm_id, C::START_FAILED).await?;
        }
        match vm.status.as_str() {
            _ if vm.status.is_startable() => self.claim_start(&vm, C::START_FAILED).await?,
            other => {
                return Err(LifecycleError::failed(C::INVALID_STATE, format!("Cannot start VM in state: {other}"), Some(vm_id), None));
            }
        }
        let journal = Journal::begin(&self.opts.pidfile_dir, Entry::new(Op::Start, vm_id, &vm.internal_name)).map_err(|e| journal_error(vm_id, &e))?;
        let mut made = Made::new(journal);
        made.status_written = true;
        made.volatile_only = true;
        match self.start_steps(&vm, &mut made).await {
            Ok(started) => {
                crate::log::log(NS, &format!("VM {vm_id} started: PID {}", started.pid));
                let r = OperationResult { success: true, message: format!("VM {vm_id} started successfully"), vm_id: vm_id.into(), forced: None };
                Ok((r, Some(started)))
            }
            Err(e) => {
                crate::log::warn(NS, &format!("start of VM {vm_id} failed, rolling back: {e}"));
                self.rollback(vm_id, made).await;
                Err(e)
            }
        }
    }

    /// The stored TAP `stored` when it exists and its queue mode is what QEMU will
    /// open it with (`queues`); `None` when a TAP must be made. The kernel refuses
    /// QEMU's attach when the multi-queue flags differ (the VM's cores or queue
    /// setting changed, or an older version made it single-queue), so such a TAP is
    /// removed here and the caller makes it anew (journaled as this start's TAP).
    fn reusable_tap(&self, vm_id: &str, stored: Option<&str>, queues: u32) -> Result<Option<String>, LifecycleError> {
        let Some(t) = stored.filter(|t| self.net.tap_exists(t)) else { return Ok(None) };
        let want = queues > 1;
        match self.net.tap_multi_queue(t) {
            Some(mq) if mq != want => {}
            _ => return Ok(Some(t.to_string())),
        }
        if self.net.tap_has_carrier(t) {
            return Err(LifecycleError::failed(
                C::START_FAILED,
                format!("TAP {t} of VM {vm_id} must be made anew for {queues} queue(s), but a process holds it open"),
                Some(vm_id),
                Some(json!({ "tapDevice": t, "queues": queues })),
            ));
        }
        let (has, needs) = if want { ("single-queue", "multi-queue") } else { ("multi-queue", "single-queue") };
        crate::log::log(NS, &format!("TAP {t} of VM {vm_id} is {has}, QEMU opens it {needs} ({queues} queue(s)): making it anew"));
        self.net.tap_destroy(t).map_err(wrap(C::START_FAILED, vm_id))?;
        Ok(None)
    }

    async fn start_steps(&self, vm: &crate::state::records::VmConfigRecord, made: &mut Made) -> Result<Started, LifecycleError> {
        let vm_id = vm.id.as_str();
        let internal = vm.internal_name.as_str();
        if vm.cpu_cores <= 0 || vm.ram_gb <= 0 || internal.is_empty() {
            return Err(LifecycleError::failed(
                C::INVALID_CONFIG,
                format!("VM {vm_id} missing required hardware configuration (cpuCores, ramGB, or internalName)"),
                Some(vm_id),
                Some(json!({ "cpuCores": vm.cpu_cores, "ramGB": vm.ram_gb, "internalName": internal })),
            ));
        }
        check_internal_name(internal)?;
        let conf = vm.configuration.clone().unwrap_or_default();
        let stored_disks: Vec<PathBuf> =
            conf.disk_paths.as_ref().and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(PathBuf::from).collect()).unwrap_or_default();
        let disk_paths = if stored_disks.is_empty() { self.paths(internal, 1).disks } else { stored_disks };
        let paths = self.paths(internal, disk_paths.len());
        self.ensure_dirs(C::START_FAILED, vm_id)?;
        if let Some(pid) = live_pid_or_clear(&paths.pidfile) {
            let pf = path_string(&paths.pidfile);
            return Err(LifecycleError::failed(
                C::START_FAILED,
                format!("VM {vm_id} appears to have a running QEMU process (PID {pid}) that is not tracked. This may indicate a previous crash or unclean shutdown. If you are sure no QEMU process is running for this VM, manually remove: {pf}"),
                Some(vm_id),
                Some(json!({ "existingPid": pid, "pidFilePath": pf })),
            ));
        }
        remove_quietly(&paths.qmp_socket);
        for (i, d) in disk_paths.iter().enumerate() {
            if !d.exists() {
                let dp = path_string(d);
                return Err(LifecycleError::failed(
                    C::DISK_ERROR,
                    format!("Disk image {i} not found: {dp}"),
                    Some(vm_id),
                    Some(json!({ "diskPath": dp, "diskIndex": i })),
                ));
            }
        }
        // Spec §5.6 step 7: the InfiniService channel is always there on start.
        let infini_socket = match conf.infini_service_socket_path.clone() {
            Some(p) => PathBuf::from(p),
            None => {
                check_internal_name(vm_id)?;
                self.opts.qmp_socket_dir.join(format!("{vm_id}.socket"))
            }
        };
        let bridge = conf.bridge.clone().unwrap_or_else(|| "virbr0".into());
        let cores = stored_cores(conf.cpu_pinning.as_ref());
        made.record(vm_id, |e| e.cpu_cores = cores)?;

        // TAP (the stored one when it still exists and suits QEMU), firewall, then the bridge.
        let queues = VmSpec::row_queues(vm);
        let tap = match self.reusable_tap(vm_id, conf.tap_device_name.as_deref(), queues)? {
            Some(t) => {
                if self.net.tap_has_carrier(&t) {
                    crate::log::warn(NS, &format!("TAP {t} of VM {vm_id} already has a carrier before QEMU starts"));
                }
                made.record(vm_id, |e| e.tap_reused = Some(t.clone()))?;
                t
            }
            None => {
                let name = crate::network::link::names::tap_for_vm(vm_id).map_err(wrap(C::START_FAILED, vm_id))?.to_string();
                made.record(vm_id, |e| e.tap = Some(name))?;
                self.net.tap_create(vm_id, Some(&bridge), queues).map_err(wrap(C::START_FAILED, vm_id))?
            }
        };
        let chain_existed = self.net.chain_exists(vm_id).await;
        made.record(vm_id, |e| {
            e.chain = !chain_existed;
            e.chain_attached = true;
        })?;
        self.net.create_chain(vm_id, &tap).await.map_err(wrap(C::START_FAILED, vm_id))?;
        let rules = self.stored_rules(vm_id).await?;
        if !rules.is_empty() {
            self.net.apply_rules(vm_id, &tap, &rules).await.map_err(wrap(C::START_FAILED, vm_id))?;
        }
        if made.journal.entry().tap_reused.is_some() {
            self.net.tap_attach(&tap, &bridge, vm_id).map_err(wrap(C::START_FAILED, vm_id))?;
        } else {
            self.net.tap_configure(&tap, Some(&bridge)).map_err(wrap(C::START_FAILED, vm_id))?;
        }

        let uefi = conf.uefi_firmware.as_deref().map(PathBuf::from).filter(|p| std::fs::File::open(p).is_ok());
        #[allow(clippy::cast_precision_loss)] // small integers from the database
        let ram_gb = vm.ram_gb as f64;
        let resolved = Resolved {
            tap: tap.clone(),
            uuid: qemu_uuid(vm_id, None),
            uefi_vars: uefi.as_deref().and_then(|fw| crate::lifecycle::uefi::setup_uefi_vars(fw, &self.opts.disk_dir, vm_id)),
            uefi_firmware: uefi,
            hugepages: conf.hugepages == Some(true) && hugepages_for(vm_id, ram_gb),
            vhost_net: vhost_for(queues),
        };
        let mut vm_spec = VmSpec::from_row(vm, &paths, &disk_paths, &infini_socket, resolved);
        let pid = self.launch(vm_id, &mut vm_spec.cmd, &bridge, made).await?;
        let update = vm_spec.runtime_update(pid).map_err(|m| LifecycleError::failed(C::DATABASE_ERROR, m, Some(vm_id), None))?;
        self.store.update_machine_configuration(vm_id, &update).await.map_err(wrap(C::DATABASE_ERROR, vm_id))?;
        self.store.update_machine_status(vm_id, &VmStatus::Running).await.map_err(wrap(C::DATABASE_ERROR, vm_id))?;
        self.commit(vm_id, made, pid);
        Ok(Started { pid, tap_device: tap, qmp_socket_path: path_string(&paths.qmp_socket) })
    }
}
