//! CPU pinning plans (spec §12): NUMA topology, the basic and hybrid algorithms and
//! the `numactl` wrapper they produce.

use std::collections::BTreeMap;
use std::path::Path;

/// Node id → CPU ids, in ascending node order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NumaTopology {
    pub nodes: BTreeMap<u32, Vec<u32>>,
    pub total_cpus: usize,
    pub is_numa_system: bool,
}

impl NumaTopology {
    pub fn from_nodes(nodes: BTreeMap<u32, Vec<u32>>) -> Self {
        let total_cpus = nodes.values().map(Vec::len).sum();
        let is_numa_system = nodes.len() > 1;
        NumaTopology { nodes, total_cpus, is_numa_system }
    }

    /// Reads `/sys/devices/system/node/node*/cpulist`, falling back to one node of
    /// `/proc/cpuinfo`'s processors (spec §12.1).
    pub fn detect() -> Self {
        Self::read_from(Path::new("/sys/devices/system/node"), Path::new("/proc/cpuinfo"))
    }

    fn read_from(node_dir: &Path, cpuinfo: &Path) -> Self {
        let Ok(entries) = std::fs::read_dir(node_dir) else {
            let n = std::fs::read_to_string(cpuinfo).map(|s| s.lines().filter(|l| is_processor_line(l)).count()).unwrap_or(0).max(1);
            let cpus = (0..u32::try_from(n).unwrap_or(1)).collect();
            return NumaTopology { nodes: BTreeMap::from([(0, cpus)]), total_cpus: n, is_numa_system: false };
        };
        let mut nodes = BTreeMap::new();
        let mut dirs = 0;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_prefix("node").and_then(|n| n.parse::<u32>().ok()) else { continue };
            dirs += 1;
            if let Ok(list) = std::fs::read_to_string(e.path().join("cpulist")) {
                nodes.insert(id, parse_cpu_list(&list));
            }
        }
        let mut t = NumaTopology::from_nodes(nodes);
        t.is_numa_system = dirs > 1;
        t
    }
}

fn is_processor_line(l: &str) -> bool {
    l.strip_prefix("processor").is_some_and(|r| r.trim_start().starts_with(':'))
}

/// `0-3,5,7-9` → `[0,1,2,3,5,7,8,9]`; malformed pieces are skipped.
pub fn parse_cpu_list(s: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
                    out.extend(a..=b.min(a.saturating_add(65535)));
                }
            }
            None => out.extend(part.trim().parse::<u32>().ok()),
        }
    }
    out
}

/// The cores and nodes a VM's vCPUs are placed on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinningPlan {
    pub cores: Vec<u32>,
    pub nodes: Vec<u32>,
}

fn plan_from(pairs: impl IntoIterator<Item = (u32, u32)>) -> PinningPlan {
    let mut cores: Vec<u32> = Vec::new();
    let mut nodes: Vec<u32> = Vec::new();
    for (c, n) in pairs {
        cores.push(c);
        nodes.push(n);
    }
    cores.sort_unstable();
    cores.dedup();
    nodes.sort_unstable();
    nodes.dedup();
    PinningPlan { cores, nodes }
}

/// Proportional spread over nodes in ascending order; the last node takes the rest.
pub fn basic(vcpus: usize, topo: &NumaTopology) -> PinningPlan {
    if topo.total_cpus == 0 || vcpus == 0 {
        return PinningPlan::default();
    }
    let mut remaining = vcpus;
    let mut pairs = Vec::new();
    let last = topo.nodes.len().saturating_sub(1);
    for (i, (node, cpus)) in topo.nodes.iter().enumerate() {
        if cpus.is_empty() {
            continue;
        }
        let alloc = if i == last {
            remaining
        } else {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // floor of a non-negative ratio ≤ vcpus
            let share = (cpus.len() as f64 / topo.total_cpus as f64 * vcpus as f64).floor() as usize;
            share.min(remaining)
        };
        for v in 0..alloc {
            pairs.push((cpus[v % cpus.len()], *node));
        }
        remaining -= alloc;
    }
    plan_from(pairs)
}

/// The mulberry32 generator the original seeds its shuffle with.
pub struct Mulberry32(u32);

impl Mulberry32 {
    pub fn new(seed: u32) -> Self {
        Mulberry32(seed)
    }

    pub fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x6D2B_79F5);
        let mut t = self.0;
        t = (t ^ (t >> 15)).wrapping_mul(t | 1);
        t ^= t.wrapping_add((t ^ (t >> 7)).wrapping_mul(t | 61));
        f64::from(t ^ (t >> 14)) / 4_294_967_296.0
    }

    pub fn next_int(&mut self, max: usize) -> usize {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // value in [0,1) times max
        let i = (self.next_f64() * max as f64).floor() as usize;
        i
    }
}

/// Seeded random spread: shuffle every (core, node) pair and take the first `vcpus`.
pub fn hybrid(vcpus: usize, topo: &NumaTopology, seed: u32) -> PinningPlan {
    let mut pairs: Vec<(u32, u32)> = topo.nodes.iter().flat_map(|(n, cpus)| cpus.iter().map(move |c| (*c, *n))).collect();
    if pairs.is_empty() || vcpus == 0 {
        return PinningPlan::default();
    }
    let mut rng = Mulberry32::new(seed);
    for i in (1..pairs.len()).rev() {
        let j = rng.next_int(i + 1);
        pairs.swap(i, j);
    }
    let take = vcpus.min(pairs.len());
    plan_from(pairs.into_iter().take(take))
}

/// `--physcpubind=…` then `--membind=…`, each only when non-empty.
/// Generic so JS numbers (`f64`, shown like JS shows integers) go through it too.
pub fn numactl_args<T: std::fmt::Display>(cores: &[T], nodes: &[T]) -> Vec<String> {
    let join = |v: &[T]| v.iter().map(T::to_string).collect::<Vec<_>>().join(",");
    let mut a = Vec::new();
    if !cores.is_empty() {
        a.push(format!("--physcpubind={}", join(cores)));
    }
    if !nodes.is_empty() {
        a.push(format!("--membind={}", join(nodes)));
    }
    a
}

/// True when an executable `numactl` is on `PATH` (no `which` process needed).
pub fn numactl_available() -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| std::fs::metadata(d.join("numactl")).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
    })
}

/// `generatePinningCommand` result without the echoed command (spec `CpuPinningResult`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinnedCommand {
    pub wrapper_command: Option<&'static str>,
    pub wrapper_args: Vec<String>,
    pub pinning_applied: bool,
    pub pinned_cores: Vec<u32>,
    pub numa_nodes: Vec<u32>,
    pub hybrid_seed: Option<u32>,
}

/// Plans pinning for `vcpus` vCPUs; "no pinning" when the strategy is `none`, there
/// are no vCPUs, `numactl` is missing or the topology has no CPU (spec §12.1).
pub fn plan_command(vcpus: u32, strategy: crate::qemu::options::PinningStrategy, topo: &NumaTopology, numactl: bool, seed: Option<u32>) -> PinnedCommand {
    use crate::qemu::options::PinningStrategy as S;
    if strategy == S::None || vcpus == 0 || !numactl || topo.total_cpus == 0 {
        return PinnedCommand::default();
    }
    let n = vcpus as usize;
    let (plan, hybrid_seed) = match strategy {
        S::Hybrid => {
            let seed = seed.unwrap_or_else(random_seed);
            (hybrid(n, topo, seed), Some(seed))
        }
        _ => (basic(n, topo), None),
    };
    PinnedCommand {
        wrapper_command: Some("numactl"),
        wrapper_args: numactl_args(&plan.cores, &plan.nodes),
        pinning_applied: true,
        pinned_cores: plan.cores,
        numa_nodes: plan.nodes,
        hybrid_seed,
    }
}

impl PinnedCommand {
    /// The wrapper as [`LaunchSpec::wrapper`](crate::qemu::process::LaunchSpec) takes it.
    pub fn wrapper(&self) -> Option<(String, Vec<String>)> {
        self.wrapper_command.map(|c| (c.to_string(), self.wrapper_args.clone()))
    }
}

/// The numactl pinning of one VM launch (spec §5.4 step 18): reads the topology,
/// looks for `numactl` on `PATH` and plans. When pinning was asked for but `numactl`
/// is missing, the VM starts unpinned and a warning says so. Use
/// [`PinnedCommand::wrapper`] for the launch and keep the plan for the getters.
pub fn plan_launch(vcpus: u32, strategy: crate::qemu::options::PinningStrategy, seed: Option<u32>) -> PinnedCommand {
    use crate::qemu::options::PinningStrategy as S;
    let numactl = numactl_available();
    if strategy != S::None && vcpus > 0 && !numactl {
        crate::log::warn(NS_MODULE, "numactl was not found on PATH; the VM starts without NUMA CPU pinning (install the numactl package)");
    }
    plan_command(vcpus, strategy, &NumaTopology::detect(), numactl, seed)
}

/// Module name for logs: `infinivirt:cpu-pinning-adapter`.
pub const NS_MODULE: &str = "cpu-pinning-adapter";

/// JS `ToUint32` of a seed number (mulberry32 works on the 32-bit pattern).
pub fn seed_from_js(v: f64) -> u32 {
    if !v.is_finite() {
        return 0;
    }
    let m = v.trunc().rem_euclid(4_294_967_296.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // in [0, 2^32)
    let s = m as u32;
    s
}

/// A JS vCPU count: NaN and non-positive values mean none; fractions are dropped.
pub fn vcpus_from_js(v: f64) -> u32 {
    if v.is_nan() || v < 1.0 {
        return 0;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // saturating cast of a value >= 1
    let n = v.min(f64::from(u32::MAX)) as u32;
    n
}

/// `CpuPinningAdapter` (spec §12.1): the topology and numactl availability are read
/// once and kept until [`clear_cache`](Self::clear_cache).
#[derive(Debug, Default)]
pub struct PinningAdapter {
    topology: std::sync::Mutex<Option<std::sync::Arc<NumaTopology>>>,
    numactl: std::sync::Mutex<Option<bool>>,
}

fn locked<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl PinningAdapter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn topology(&self) -> std::sync::Arc<NumaTopology> {
        locked(&self.topology).get_or_insert_with(|| std::sync::Arc::new(NumaTopology::detect())).clone()
    }

    /// `numactl` on `PATH`, searched natively (the original ran `which numactl`).
    pub fn numactl_available(&self) -> bool {
        *locked(&self.numactl).get_or_insert_with(numactl_available)
    }

    /// Spec `generatePinningCommand` without the echoed command.
    pub fn generate(&self, vcpus: u32, strategy: crate::qemu::options::PinningStrategy, seed: Option<u32>) -> PinnedCommand {
        if strategy == crate::qemu::options::PinningStrategy::None || vcpus == 0 {
            return PinnedCommand::default();
        }
        plan_command(vcpus, strategy, &self.topology(), self.numactl_available(), seed)
    }

    /// Spec `validateCores`: every core must be a CPU of the topology.
    pub fn validate_cores(&self, cores: &[i64]) -> Result<(), crate::system::cores::CoresError> {
        validate_in_topology(cores, &self.topology())
    }

    pub fn clear_cache(&self) {
        *locked(&self.topology) = None;
        *locked(&self.numactl) = None;
    }
}

/// Cores not in `topo`, in the caller's order, with every CPU of `topo` sorted.
pub fn validate_in_topology(cores: &[i64], topo: &NumaTopology) -> Result<(), crate::system::cores::CoresError> {
    let mut valid: Vec<u32> = topo.nodes.values().flatten().copied().collect();
    valid.sort_unstable();
    valid.dedup();
    let invalid: Vec<i64> = cores.iter().copied().filter(|c| u32::try_from(*c).map_or(true, |c| valid.binary_search(&c).is_err())).collect();
    if invalid.is_empty() {
        Ok(())
    } else {
        Err(crate::system::cores::CoresError::NotInTopology { invalid, valid })
    }
}

/// A seed in `[0, 2^31 - 1)` like the original's `floor(Math.random() * 2147483647)`.
fn random_seed() -> u32 {
    use std::hash::BuildHasher;
    let r = std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now());
    u32::try_from(r % 2_147_483_647).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo(nodes: &[(u32, std::ops::Range<u32>)]) -> NumaTopology {
        NumaTopology::from_nodes(nodes.iter().map(|(n, r)| (*n, r.clone().collect())).collect())
    }

    #[test]
    fn spec_112() {
        assert_eq!(numactl_args(&[0, 1, 2, 3], &[0]), ["--physcpubind=0,1,2,3", "--membind=0"]);
        let two = topo(&[(0, 0..8), (1, 8..16)]);
        assert_eq!(basic(4, &two), PinningPlan { cores: vec![0, 1, 8, 9], nodes: vec![0, 1] });
        assert_eq!(basic(1, &topo(&[(0, 0..2), (1, 2..4)])), PinningPlan { cores: vec![2], nodes: vec![1] });
        assert_eq!(basic(4, &topo(&[(0, 0..2), (1, 2..4)])), PinningPlan { cores: vec![0, 1, 2, 3], nodes: vec![0, 1] });
        assert_eq!(basic(4, &topo(&[(0, 0..8)])), PinningPlan { cores: vec![0, 1, 2, 3], nodes: vec![0] });
        assert_eq!(hybrid(4, &two, 12345), PinningPlan { cores: vec![1, 8, 9, 12], nodes: vec![0, 1] });
    }

    #[test]
    fn plan_command_rules() {
        use crate::qemu::options::PinningStrategy as S;
        let two = topo(&[(0, 0..8), (1, 8..16)]);
        assert_eq!(plan_command(4, S::None, &two, true, None), PinnedCommand::default());
        assert_eq!(plan_command(4, S::Basic, &two, false, None), PinnedCommand::default());
        assert_eq!(plan_command(0, S::Basic, &two, true, None), PinnedCommand::default());
        let p = plan_command(4, S::Hybrid, &two, true, Some(12345));
        assert_eq!(p.wrapper_command, Some("numactl"));
        assert_eq!(p.wrapper_args, ["--physcpubind=1,8,9,12", "--membind=0,1"]);
        assert_eq!(p.hybrid_seed, Some(12345));
        assert!(plan_command(2, S::Hybrid, &two, true, None).hybrid_seed.is_some());
    }

    #[test]
    fn overcommit_wraps() {
        assert_eq!(basic(6, &topo(&[(0, 0..2)])).cores, vec![0, 1]);
        assert_eq!(hybrid(10, &topo(&[(0, 0..2), (1, 2..4)]), 1).cores, vec![0, 1, 2, 3]);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,5,7-9\n"), vec![0, 1, 2, 3, 5, 7, 8, 9]);
        assert_eq!(parse_cpu_list(""), Vec::<u32>::new());
        assert_eq!(parse_cpu_list("x,2"), vec![2]);
    }

    #[test]
    fn topology_fallback_uses_cpuinfo() {
        let dir = std::env::temp_dir().join(format!("iv-topo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let info = dir.join("cpuinfo");
        std::fs::write(&info, "processor\t: 0\nflags: x\nprocessor\t: 1\n").unwrap();
        let t = NumaTopology::read_from(&dir.join("missing"), &info);
        assert_eq!(t.nodes[&0], vec![0, 1]);
        assert!(!t.is_numa_system);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    #[test]
    fn topology_validation_message() {
        let two = topo(&[(0, 0..2), (1, 2..4)]);
        assert!(validate_in_topology(&[], &two).is_ok());
        assert!(validate_in_topology(&[3, 0], &two).is_ok());
        let e = validate_in_topology(&[9, 1, -1, 4], &two).unwrap_err();
        assert_eq!(e.to_string(), "Invalid CPU cores: 9,-1,4. Valid cores: 0,1,2,3");
    }

    #[test]
    fn numactl_args_edges() {
        assert_eq!(numactl_args::<u32>(&[], &[]), Vec::<String>::new());
        assert_eq!(numactl_args::<u32>(&[3], &[]), ["--physcpubind=3"]);
        assert_eq!(numactl_args(&[0.0, 2.0], &[1.0]), ["--physcpubind=0,2", "--membind=1"]);
        assert_eq!(numactl_args::<u32>(&[], &[0, 1]), ["--membind=0,1"]);
    }

    #[test]
    fn seeds_like_js_to_uint32() {
        assert_eq!(seed_from_js(12345.0), 12345);
        assert_eq!(seed_from_js(-1.0), u32::MAX);
        assert_eq!(seed_from_js(4_294_967_297.0), 1);
        assert_eq!(seed_from_js(7.9), 7);
        assert_eq!(seed_from_js(f64::NAN), 0);
        assert_eq!(vcpus_from_js(4.7), 4);
        assert_eq!(vcpus_from_js(0.5), 0);
        assert_eq!(vcpus_from_js(-2.0), 0);
        assert_eq!(vcpus_from_js(f64::NAN), 0);
        assert_eq!(vcpus_from_js(f64::INFINITY), u32::MAX);
    }

    #[test]
    fn wrapper_for_launch() {
        use crate::qemu::options::PinningStrategy as S;
        let one = topo(&[(0, 0..2)]);
        let p = plan_command(2, S::Basic, &one, true, None);
        assert_eq!(p.wrapper(), Some(("numactl".to_string(), vec!["--physcpubind=0,1".to_string(), "--membind=0".to_string()])));
        assert_eq!(PinnedCommand::default().wrapper(), None);
        assert_eq!(plan_launch(2, S::None, None), PinnedCommand::default());
        // This host: the plan follows numactl's presence on PATH.
        let live = plan_launch(1, S::Hybrid, Some(7));
        assert_eq!(live.pinning_applied, numactl_available());
    }

    #[test]
    fn adapter_caches_until_cleared() {
        use crate::qemu::options::PinningStrategy as S;
        let a = PinningAdapter::new();
        let t1 = a.topology();
        assert!(std::sync::Arc::ptr_eq(&t1, &a.topology()));
        a.clear_cache();
        assert!(!std::sync::Arc::ptr_eq(&t1, &a.topology()));
        assert_eq!(*t1, NumaTopology::detect());
        assert_eq!(a.generate(0, S::Basic, None), PinnedCommand::default());
        let max = i64::try_from(t1.total_cpus).unwrap();
        assert!(a.validate_cores(&[0]).is_ok());
        assert!(a.validate_cores(&[max]).is_err());
    }
}
