//! `qemu-img info` / `qemu-img check` JSON into the spec's `ImageInfo`,
//! `SnapshotInfo` and `ImageCheckResult` (API.md §9.1, §17.5).

use serde::Deserialize;

/// Spec `ImageInfo`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    pub filename: String,
    /// The driver qemu-img reports; usually one of `ImageFormat`, but passed through.
    pub format: String,
    pub virtual_size: u64,
    pub actual_size: u64,
    pub cluster_size: Option<u64>,
    pub encrypted: bool,
    pub backing_file: Option<String>,
    /// Present when qemu-img lists a `snapshots` array.
    pub snapshots: Option<Vec<SnapshotInfo>>,
}

/// Spec `SnapshotInfo`: one internal snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotInfo {
    pub id: String,
    pub name: String,
    /// Size of the saved VM state in bytes (0 for disk-only snapshots).
    pub vm_size: f64,
    /// `YYYY-MM-DD HH:MM:SS`.
    pub date: String,
    /// Guest clock at the snapshot, `HHHH:MM:SS.mmm` as qemu-img prints it.
    pub vm_clock: String,
}

/// Spec `ImageCheckResult`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageCheckResult {
    pub errors: u64,
    pub leaks: u64,
    pub corruptions: u64,
    pub total_clusters: u64,
    pub allocated_clusters: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawInfo {
    filename: String,
    format: String,
    virtual_size: u64,
    actual_size: Option<u64>,
    cluster_size: Option<u64>,
    encrypted: Option<bool>,
    backing_filename: Option<String>,
    snapshots: Option<Vec<RawSnapshot>>,
}

/// A snapshot as qemu-img's JSON (and QMP's `query-block`) describe it.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct RawSnapshot {
    id: String,
    name: String,
    vm_state_size: Option<u64>,
    date_sec: Option<i64>,
    vm_clock_sec: Option<i64>,
    vm_clock_nsec: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawCheck {
    check_errors: Option<u64>,
    leaks: Option<u64>,
    corruptions: Option<u64>,
    total_clusters: Option<u64>,
    allocated_clusters: Option<u64>,
}

/// Parses `qemu-img info --output=json`.
pub fn parse_image_info(json: &str) -> Result<ImageInfo, serde_json::Error> {
    let r: RawInfo = serde_json::from_str(json)?;
    Ok(ImageInfo {
        filename: r.filename,
        format: r.format,
        virtual_size: r.virtual_size,
        actual_size: r.actual_size.unwrap_or(0),
        cluster_size: r.cluster_size,
        encrypted: r.encrypted.unwrap_or(false),
        backing_file: r.backing_filename,
        snapshots: r.snapshots.map(|s| s.into_iter().map(RawSnapshot::into_info).collect()),
    })
}

/// Parses `qemu-img check --output=json` (also when qemu-img exited non-zero because
/// it found errors: the report is on stdout either way). Absent counters are 0.
pub fn parse_check(json: &str) -> Result<ImageCheckResult, serde_json::Error> {
    let r: RawCheck = serde_json::from_str(json)?;
    Ok(ImageCheckResult {
        errors: r.check_errors.unwrap_or(0),
        leaks: r.leaks.unwrap_or(0),
        corruptions: r.corruptions.unwrap_or(0),
        total_clusters: r.total_clusters.unwrap_or(0),
        allocated_clusters: r.allocated_clusters.unwrap_or(0),
    })
}

impl RawSnapshot {
    pub(crate) fn into_info(self) -> SnapshotInfo {
        #[allow(clippy::cast_precision_loss)] // VM state sizes are far below 2^53
        let vm_size = self.vm_state_size.unwrap_or(0) as f64;
        SnapshotInfo {
            id: self.id,
            name: self.name,
            vm_size,
            date: self.date_sec.map(utc_date_time).unwrap_or_default(),
            vm_clock: vm_clock(self.vm_clock_sec.unwrap_or(0), self.vm_clock_nsec.unwrap_or(0)),
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS` in UTC for seconds since the epoch.
fn utc_date_time(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant) for the proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The guest clock as qemu-img's snapshot table prints it (`%04d:%02d:%02d.%03d`).
fn vm_clock(sec: i64, nsec: i64) -> String {
    let ms = sec.saturating_mul(1000).saturating_add(nsec / 1_000_000);
    let secs = ms / 1000;
    format!("{:04}:{:02}:{:02}.{:03}", secs / 3600, secs / 60 % 60, secs % 60, ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_20_6_82() {
        let i = parse_image_info(r#"{"filename":"/d.qcow2","format":"qcow2","virtual-size":10737418240,"actual-size":200704,"cluster-size":65536}"#).unwrap();
        assert_eq!(
            i,
            ImageInfo {
                filename: "/d.qcow2".into(),
                format: "qcow2".into(),
                virtual_size: 10_737_418_240,
                actual_size: 200_704,
                cluster_size: Some(65536),
                encrypted: false,
                backing_file: None,
                snapshots: None,
            }
        );
    }

    #[test]
    fn real_qemu_img_10_output_with_snapshots_and_backing() {
        // Captured from qemu-img 10.0.2 (children and format-specific trimmed).
        let json = r#"{
            "snapshots": [
                {"vm-clock-nsec": 250000000, "name": "s1", "date-sec": 1795404526, "date-nsec": 961758000,
                 "vm-clock-sec": 3725, "id": "1", "vm-state-size": 1536}
            ],
            "backing-filename-format": "qcow2",
            "virtual-size": 536870912,
            "filename": "/tmp/qi/live.qcow2",
            "cluster-size": 65536,
            "format": "qcow2",
            "actual-size": 212992,
            "backing-filename": "base.qcow2",
            "full-backing-filename": "/tmp/qi/base.qcow2",
            "format-specific": {"type": "qcow2", "data": {"compat": "1.1"}},
            "encrypted": true,
            "dirty-flag": false
        }"#;
        let i = parse_image_info(json).unwrap();
        assert_eq!(i.backing_file.as_deref(), Some("base.qcow2"));
        assert!(i.encrypted);
        assert_eq!(
            i.snapshots.unwrap(),
            vec![SnapshotInfo { id: "1".into(), name: "s1".into(), vm_size: 1536.0, date: "2026-11-23 03:28:46".into(), vm_clock: "0001:02:05.250".into() }]
        );
    }

    #[test]
    fn missing_actual_size_is_zero_and_garbage_is_an_error() {
        let i = parse_image_info(r#"{"filename":"x","format":"raw","virtual-size":1}"#).unwrap();
        assert_eq!(i.actual_size, 0);
        assert!(parse_image_info("not json").is_err());
        assert!(parse_image_info(r#"{"filename":"x"}"#).is_err());
    }

    #[test]
    fn spec_20_6_83_check_report() {
        let c = parse_check(r#"{"check-errors": 1, "leaks": 0, "corruptions": 3, "total-clusters": 10, "allocated-clusters": 5}"#).unwrap();
        assert_eq!(c, ImageCheckResult { errors: 1, leaks: 0, corruptions: 3, total_clusters: 10, allocated_clusters: 5 });
        // qemu-img 10 on a clean image omits the zero counters.
        let c = parse_check(r#"{"image-end-offset": 262144, "total-clusters": 16384, "check-errors": 0, "filename": "/a", "format": "qcow2"}"#).unwrap();
        assert_eq!(c, ImageCheckResult { errors: 0, leaks: 0, corruptions: 0, total_clusters: 16384, allocated_clusters: 0 });
    }

    #[test]
    fn dates_and_clocks() {
        assert_eq!(utc_date_time(0), "1970-01-01 00:00:00");
        assert_eq!(utc_date_time(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc_date_time(1_705_314_600), "2024-01-15 10:30:00");
        assert_eq!(vm_clock(0, 0), "0000:00:00.000");
        assert_eq!(vm_clock(360_000, 5_000_000), "0100:00:00.005");
    }
}
