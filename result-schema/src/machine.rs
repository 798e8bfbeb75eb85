//! The machine a result was measured on, read from Linux's `/proc` and `/sys`.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// CPU, memory and disk of the measuring machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// `model name` from `/proc/cpuinfo`.
    pub cpu_model: Option<String>,
    /// Cores this process may use.
    pub cores: usize,
    pub memory_bytes: Option<u64>,
    /// The disk holding the current directory (where the tools keep their data).
    pub disk: Option<Disk>,
    pub os: String,
    pub arch: String,
    pub kernel: Option<String>,
    pub hostname: Option<String>,
}

/// A block device, as `/sys/block` describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disk {
    /// Kernel name, e.g. `nvme0n1`, `sda`, `vda`.
    pub device: String,
    pub model: Option<String>,
    /// `ssd`, `hdd`, or `virtual` (a virtio disk, whose medium the guest cannot see).
    pub kind: String,
    pub size_bytes: Option<u64>,
}

fn read_trimmed(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl Machine {
    pub fn current() -> Self {
        Machine {
            cpu_model: std::fs::read_to_string("/proc/cpuinfo")
                .ok()
                .and_then(|t| t.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_string())),
            cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            memory_bytes: meminfo_kb("MemTotal:").map(|kb| kb * 1024),
            disk: Disk::holding(Path::new(".")),
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            hostname: read_trimmed("/proc/sys/kernel/hostname"),
        }
    }
}

impl Disk {
    /// The whole disk under the filesystem that holds `path` (Linux), if it can be found.
    pub fn holding(path: &Path) -> Option<Disk> {
        use std::os::unix::fs::MetadataExt;
        let dev = std::fs::metadata(path).ok()?.dev();
        // Linux's encoding of a dev_t into major and minor numbers.
        let (major, minor) = (((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff), (dev & 0xff) | ((dev >> 12) & !0xff));
        let sys = std::fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")).ok()?;
        // A partition's directory sits inside its disk's; the disk has a `queue`.
        let disk = if sys.join("queue").exists() { sys } else { sys.parent()?.to_path_buf() };
        let device = disk.file_name()?.to_string_lossy().into_owned();
        let rotational = read_trimmed(disk.join("queue/rotational"));
        let kind = if device.starts_with("vd") || device.starts_with("xvd") {
            "virtual"
        } else if rotational.as_deref() == Some("1") {
            "hdd"
        } else {
            "ssd"
        };
        Some(Disk {
            model: read_trimmed(disk.join("device/model")),
            size_bytes: read_trimmed(disk.join("size")).and_then(|s| s.parse::<u64>().ok()).map(|sectors| sectors * 512),
            kind: kind.into(),
            device,
        })
    }
}

fn meminfo_kb(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

/// This process's peak and current resident set size in bytes (Linux), if known.
pub fn rss_bytes() -> (Option<u64>, Option<u64>) {
    let Ok(text) = std::fs::read_to_string("/proc/self/status") else { return (None, None) };
    let field = |name: &str| {
        text.lines().find(|l| l.starts_with(name)).and_then(|l| l[name.len()..].trim().trim_end_matches("kB").trim().parse::<u64>().ok()).map(|kb| kb * 1024)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_is_described() {
        let m = Machine::current();
        assert!(m.cores >= 1);
        if cfg!(target_os = "linux") {
            assert!(m.memory_bytes.unwrap() > 0);
            assert!(m.cpu_model.is_some());
            assert!(rss_bytes().1.unwrap() > 0);
            // Overlay and network filesystems have no block device to name.
            if let Some(disk) = m.disk {
                assert!(["ssd", "hdd", "virtual"].contains(&disk.kind.as_str()), "{disk:?}");
                assert!(disk.size_bytes.unwrap() > 0);
            }
        }
    }
}
