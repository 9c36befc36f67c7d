//! Host resources a VM is placed on: cgroup cpusets (`CgroupsManager`, spec §13) and
//! the hugepages preflight (spec §5.3 plus a capacity check).

pub mod cgroups;
pub mod cores;
pub mod hugepages;
