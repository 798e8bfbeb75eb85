//! A small filesystem that tests can fill up: a `tmpfs` of a fixed size mounted on a fresh
//! directory, with a filler file that takes all but a chosen amount of its space and can be
//! removed again. It lets a test drive a service's data directory to "disk full" and back
//! without touching the machine's real disk.
//!
//! Mounting needs `CAP_SYS_ADMIN` (root on the test machines). Without it [`SmallDisk::mount`]
//! returns `None` with a notice, except under CI (`CI=true`), where it panics, as a missing
//! fixture does.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A mounted `tmpfs`; unmounted (and its directory removed) when dropped.
pub struct SmallDisk {
    root: tempfile::TempDir,
    filler: PathBuf,
}

impl SmallDisk {
    /// Mounts a `size`-byte tmpfs on a new temporary directory, or `None` (with a notice) when
    /// this process may not mount.
    pub fn mount(size: u64) -> Option<SmallDisk> {
        let root = tempfile::tempdir().expect("creating a mount point");
        let target = std::ffi::CString::new(root.path().as_os_str().as_encoded_bytes()).expect("a path without NUL");
        let options = std::ffi::CString::new(format!("size={size},mode=0700")).unwrap();
        // SAFETY: every pointer is a NUL-terminated string that outlives the call.
        let rc = unsafe { libc::mount(c"tmpfs".as_ptr(), target.as_ptr(), c"tmpfs".as_ptr(), 0, options.as_ptr().cast()) };
        let mounted = rc == 0;
        let why = if mounted { String::new() } else { std::io::Error::last_os_error().to_string() };
        if !atproto::fixtures::available(mounted, &format!("permission to mount a tmpfs at {} ({why})", root.path().display())) {
            return None;
        }
        let filler = root.path().join("filler");
        Some(SmallDisk { root, filler })
    }

    pub fn path(&self) -> &Path {
        self.root.path()
    }

    /// Bytes available on the filesystem.
    pub fn free(&self) -> u64 {
        fs_free(self.root.path())
    }

    /// Grows the filler file until at most `left` bytes are free (it never shrinks it).
    pub fn fill_leaving(&self, left: u64) {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&self.filler).expect("opening the filler");
        let chunk = vec![0u8; 64 << 10];
        loop {
            let free = self.free();
            if free <= left {
                break;
            }
            let n = (free - left).min(chunk.len() as u64) as usize;
            match file.write_all(&chunk[..n]) {
                Ok(()) => {}
                // tmpfs counts whole pages, so the last chunk can overshoot into a full disk.
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("filling {}: {e}", self.filler.display()),
            }
        }
        file.sync_all().expect("syncing the filler");
    }

    /// Removes the filler, giving its space back.
    pub fn free_filler(&self) {
        match std::fs::remove_file(&self.filler) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("removing {}: {e}", self.filler.display()),
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let target = std::ffi::CString::new(self.root.path().as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path. A lazy unmount succeeds even while a killed child's
        // files are still being closed.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Bytes available to this process on the filesystem holding `path`.
fn fs_free(path: &Path) -> u64 {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `stat` is written by the call; `c` is NUL-terminated.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut stat) };
    assert_eq!(rc, 0, "statvfs {}: {}", path.display(), std::io::Error::last_os_error());
    stat.f_bavail as u64 * stat.f_frsize as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_and_frees() {
        let Some(disk) = SmallDisk::mount(8 << 20) else { return };
        let before = disk.free();
        assert!(before > 7 << 20, "{before}");
        disk.fill_leaving(1 << 20);
        let full = disk.free();
        assert!(full <= 1 << 20 && full + (64 << 10) >= 1 << 20, "{full}");
        disk.free_filler();
        assert_eq!(disk.free(), before);
    }
}
