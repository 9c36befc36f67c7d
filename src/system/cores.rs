//! CPU core lists as callers give them (spec §12.1 and §13 `validateCores`), and the
//! one error type both checks report.

use serde_json::{json, Map, Value};

use crate::error::{fields, ErrorShape, JsClass};

/// Why a requested core list is refused. The messages are the spec's, pinned by tests.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoresError {
    /// `CpuPinningAdapter.validateCores`: cores missing from the NUMA topology.
    #[error("Invalid CPU cores: {}. Valid cores: {}", join(invalid), join(valid))]
    NotInTopology { invalid: Vec<i64>, valid: Vec<u32> },
    /// `CgroupsManager.validateCores`: negative indices (deduplicated, sorted).
    #[error("Invalid negative CPU core indices: {}", join(cores))]
    Negative { cores: Vec<i64> },
    /// `CgroupsManager.validateCores`: indices at or above the host's CPU count.
    #[error("Invalid CPU cores for pinning: {}. Host has {host_cpus} cores (valid range: 0-{})", join(cores), host_cpus.saturating_sub(1))]
    OutOfRange { cores: Vec<i64>, host_cpus: usize },
    /// A JS number that is not an integer cannot name a core.
    #[error("Invalid CPU core index: {value} (must be an integer)")]
    NotInteger { value: f64 },
}

fn join<T: ToString>(v: &[T]) -> String {
    v.iter().map(T::to_string).collect::<Vec<_>>().join(",")
}

impl ErrorShape for CoresError {
    fn code(&self) -> &'static str {
        match self {
            CoresError::NotInTopology { .. } | CoresError::Negative { .. } | CoresError::OutOfRange { .. } | CoresError::NotInteger { .. } => {
                "INVALID_CPU_CORES"
            }
        }
    }

    /// The spec throws plain `Error`s here.
    fn class(&self) -> JsClass {
        JsClass::Error
    }

    fn fields(&self) -> Map<String, Value> {
        match self {
            CoresError::NotInTopology { invalid, .. } => fields([("invalidCores", Some(json!(invalid)))]),
            CoresError::Negative { cores } | CoresError::OutOfRange { cores, .. } => fields([("invalidCores", Some(json!(cores)))]),
            CoresError::NotInteger { .. } => Map::new(),
        }
    }
}

/// JS numbers → core indices: every value must be a finite integer.
pub fn from_js_numbers(values: &[f64]) -> Result<Vec<i64>, CoresError> {
    values
        .iter()
        .map(|&v| {
            if v.is_finite() && v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
                #[allow(clippy::cast_possible_truncation)] // integral and within ±2^53
                Ok(v as i64)
            } else {
                Err(CoresError::NotInteger { value: v })
            }
        })
        .collect()
}

/// Spec §13 `validateCores`: empty is fine; duplicates are ignored; negatives are
/// reported first, then indices `>= host_cpus`.
pub fn validate_host_cores(cores: &[i64], host_cpus: usize) -> Result<(), CoresError> {
    let mut sorted = cores.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let negative: Vec<i64> = sorted.iter().copied().filter(|c| *c < 0).collect();
    if !negative.is_empty() {
        return Err(CoresError::Negative { cores: negative });
    }
    let limit = i64::try_from(host_cpus).unwrap_or(i64::MAX);
    let over: Vec<i64> = sorted.into_iter().filter(|c| *c >= limit).collect();
    if !over.is_empty() {
        return Err(CoresError::OutOfRange { cores: over, host_cpus });
    }
    Ok(())
}

/// Unique ascending `u32` cores; `None` when a value does not fit (already refused by
/// [`validate_host_cores`] in practice).
pub fn normalized(cores: &[i64]) -> Option<Vec<u32>> {
    let mut out = cores.iter().map(|c| u32::try_from(*c).ok()).collect::<Option<Vec<u32>>>()?;
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// The kernel's list syntax for `cpuset.cpus`: `0,1,2`.
pub fn cpuset_list(cores: &[u32]) -> String {
    join(cores)
}

/// The host's CPU count as `nproc` reports it: the CPUs this process may run on
/// (`sched_getaffinity`), read natively instead of spawning `nproc`; then the
/// `processor` lines of `/proc/cpuinfo`; then 1.
pub fn host_cpu_count() -> usize {
    affinity_count()
        .filter(|n| *n >= 1)
        .or_else(|| std::fs::read_to_string("/proc/cpuinfo").ok().map(|s| count_processors(&s)).filter(|n| *n >= 1))
        .unwrap_or(1)
}

fn affinity_count() -> Option<usize> {
    let set = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).ok()?;
    Some((0..nix::sched::CpuSet::count()).filter(|i| set.is_set(*i).unwrap_or(false)).count())
}

/// Lines matching `^processor\s*:`.
pub fn count_processors(cpuinfo: &str) -> usize {
    cpuinfo.lines().filter(|l| l.strip_prefix("processor").is_some_and(|r| r.trim_start().starts_with(':'))).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_113_messages() {
        assert_eq!(validate_host_cores(&[-1], 16).unwrap_err().to_string(), "Invalid negative CPU core indices: -1");
        assert_eq!(
            validate_host_cores(&[3, 16, 16, 20], 16).unwrap_err().to_string(),
            "Invalid CPU cores for pinning: 16,20. Host has 16 cores (valid range: 0-15)"
        );
        assert_eq!(validate_host_cores(&[-3, 5, -1, -3, 99], 4).unwrap_err().to_string(), "Invalid negative CPU core indices: -3,-1");
        assert!(validate_host_cores(&[], 1).is_ok());
        assert!(validate_host_cores(&[0, 1, 1], 2).is_ok());
    }

    #[test]
    fn topology_message() {
        let e = CoresError::NotInTopology { invalid: vec![7, 5], valid: vec![0, 1] };
        assert_eq!(e.to_string(), "Invalid CPU cores: 7,5. Valid cores: 0,1");
        assert_eq!(e.code(), "INVALID_CPU_CORES");
        assert_eq!(e.class(), JsClass::Error);
    }

    #[test]
    fn js_numbers() {
        assert_eq!(from_js_numbers(&[0.0, 3.0, -1.0]).unwrap(), vec![0, 3, -1]);
        assert_eq!(from_js_numbers(&[1.5]).unwrap_err().to_string(), "Invalid CPU core index: 1.5 (must be an integer)");
        assert!(from_js_numbers(&[f64::NAN]).is_err());
        assert!(from_js_numbers(&[f64::INFINITY]).is_err());
    }

    #[test]
    fn lists_and_counts() {
        assert_eq!(normalized(&[2, 0, 2, 1]), Some(vec![0, 1, 2]));
        assert_eq!(normalized(&[-1]), None);
        assert_eq!(cpuset_list(&[0, 1, 2]), "0,1,2");
        assert_eq!(count_processors("processor\t: 0\nmodel\t: x\nprocessor : 1\nprocessors: no\n"), 2);
        let n = host_cpu_count();
        assert!(n >= 1);
        assert_eq!(n, affinity_count().unwrap());
    }
}
