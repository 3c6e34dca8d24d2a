//! Disks that refuse writes, for the state-file faults
//! (`tests/faults/state_disk.rs`): [`TinyDisk`], a tmpfs of a few KiB the
//! test mounts in its temp dir and fills, and [`ReadOnly`], a read-only
//! bind mount laid over a directory (undone to make it writable again).
//!
//! Both need root (`mount(2)`); they touch only directories the test
//! created under its own temp dir, and unmount on drop (lazily, so a
//! process still holding a file there never makes the unmount fail). A
//! machine that cannot mount fails the test with the reason, unless
//! `SWITCHBOARD_SKIP_MOUNTS=1` turns it into a loud skip ([`can_mount`]).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::TempDir;

/// The environment variable that turns mount tests into loud skips.
pub const SKIP_MOUNTS_ENV: &str = "SWITCHBOARD_SKIP_MOUNTS";

/// `true` when this process can mount (root); otherwise `false` after
/// printing a loud skip if [`SKIP_MOUNTS_ENV`]`=1`, and a panic naming the
/// reason if not.
pub fn can_mount(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var(SKIP_MOUNTS_ENV).as_deref() == Ok("1") {
        eprintln!("SKIPPED {test}: not root (mount(2) needs it), and {SKIP_MOUNTS_ENV}=1");
        return false;
    }
    panic!("{test} mounts a tmpfs and a read-only bind mount, which needs root; run it as root or set {SKIP_MOUNTS_ENV}=1 to skip it");
}

fn c_path(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("a path without NUL")
}

/// mount(2) with optional source, type and data.
fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let source = source.map(c_path);
    let target = c_path(target);
    let fstype = fstype.map(|t| CString::new(t).expect("no NUL"));
    let data = data.map(|d| CString::new(d).expect("no NUL"));
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is a valid NUL-terminated string or null, as
    // mount(2) allows for these arguments.
    let rc = unsafe {
        libc::mount(
            ptr(&source),
            target.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data).cast(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// umount2(MNT_DETACH).
fn unmount(target: &Path) -> io::Result<()> {
    let target = c_path(target);
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A tmpfs of a few KiB in a temp dir of its own; unmounted on drop.
pub struct TinyDisk {
    dir: TempDir,
    mounted: bool,
}

impl TinyDisk {
    /// Mounts a tmpfs of `kib` KiB (at least one page).
    pub fn mount(kib: u64) -> TinyDisk {
        let dir = TempDir::new("tinydisk");
        mount(
            None,
            dir.path(),
            Some("tmpfs"),
            0,
            Some(&format!("size={kib}k,mode=0755")),
        )
        .unwrap_or_else(|e| panic!("mount a tmpfs on {}: {e}", dir.path().display()));
        TinyDisk { dir, mounted: true }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a filler file until the disk is full (ENOSPC); returns its
    /// size.
    pub fn fill(&self) -> u64 {
        use std::io::Write as _;
        let mut file = std::fs::File::create(self.filler()).expect("create the filler");
        let block = [0u8; 4096];
        let mut size = 0;
        // Bounded: the disk is a few KiB.
        for _ in 0..1_000_000 {
            match file.write(&block) {
                Ok(0) => break,
                Ok(n) => size += n as u64,
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling {}: {e}", self.path().display()),
            }
        }
        let _ = file.sync_all();
        size
    }

    /// Removes the filler: the space is free again.
    pub fn free(&self) {
        std::fs::remove_file(self.filler()).expect("remove the filler");
    }

    fn filler(&self) -> PathBuf {
        self.dir.join("filler")
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        if self.mounted {
            if let Err(e) = unmount(self.dir.path()) {
                eprintln!("could not unmount {}: {e}", self.dir.path().display());
            }
        }
    }
}

/// A read-only bind mount over a directory; undone on drop.
pub struct ReadOnly {
    target: PathBuf,
    mounted: bool,
}

impl ReadOnly {
    /// Lays a read-only view of `dir` over `dir` itself: its files stay
    /// readable, nothing can be created, renamed or written there.
    pub fn over(dir: &Path) -> ReadOnly {
        mount(Some(dir), dir, None, libc::MS_BIND, None)
            .unwrap_or_else(|e| panic!("bind mount {}: {e}", dir.display()));
        let ro = ReadOnly {
            target: dir.to_path_buf(),
            mounted: true,
        };
        mount(
            None,
            dir,
            None,
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY,
            None,
        )
        .unwrap_or_else(|e| panic!("remount {} read-only: {e}", dir.display()));
        ro
    }

    /// Removes the read-only view: the directory is writable again.
    pub fn undo(mut self) {
        unmount(&self.target).unwrap_or_else(|e| panic!("unmount {}: {e}", self.target.display()));
        self.mounted = false;
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        if self.mounted {
            let _ = unmount(&self.target);
        }
    }
}
