//! `--lock`: one run of a job at a time.
//!
//! Two overlapping runs of the same job (a cron run that outlasts its
//! interval, a person re-running by hand) would send the same URLs twice
//! and write one report from two processes. The lock is an advisory
//! `flock` on a file next to the report (`REPORT.lock` by default) that
//! also holds the holder's PID for the message. The kernel releases it when
//! the holder dies, however it dies, so a lock left by a crash or `kill -9`
//! is simply taken over.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The default lock path for a report: `REPORT.lock`.
pub fn default_path(report: &Path) -> PathBuf {
    let mut name = report.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Another run holds the lock, or it cannot be taken: exit 2.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another run (PID {holder}) holds {}: wait for it to finish, or pass another --lock if the jobs are unrelated",
        path.display()
    )]
    Held { path: PathBuf, holder: String },
    #[error("cannot take the lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A held lock; released (and its file removed) when dropped.
#[derive(Debug)]
pub struct Lock {
    file: File,
    path: PathBuf,
    /// The file still held a PID: the run before this one died holding it
    /// (`kill -9`, a crash, a second Ctrl-C), perhaps a moment ago.
    pub left_by_a_dead_run: bool,
}

impl Lock {
    /// Take the lock at `path`, or say who holds it.
    pub fn acquire(path: &Path) -> Result<Lock, LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        // A holder that finishes removes the file: whoever opened it just
        // before then locks a file no longer at `path`, and opens it again.
        for _ in 0..100 {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(io)?;
            if let Some(lock) = Lock::take(file, path)? {
                return Ok(lock);
            }
        }
        Err(io(std::io::Error::other(
            "the lock file keeps being removed or replaced",
        )))
    }

    /// Lock the opened lock file. `None` if it was removed or replaced
    /// since it was opened (its holder finished): open it again.
    fn take(mut file: File, path: &Path) -> Result<Option<Lock>, LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(LockError::Held {
                    path: path.to_path_buf(),
                    holder: if holder.is_empty() {
                        "unknown".into()
                    } else {
                        holder.to_string()
                    },
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        if !still_at(&file, path) {
            return Ok(None);
        }
        // Ours now (a dead holder's PID may still be in it: replace it).
        let mut previous = String::new();
        let left_by_a_dead_run =
            file.read_to_string(&mut previous).is_ok() && !previous.trim().is_empty();
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(Some(Lock {
            file,
            path: path.to_path_buf(),
            left_by_a_dead_run,
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether `path` still names the open `file`.
#[cfg(unix)]
fn still_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn still_at(_file: &File, path: &Path) -> bool {
    path.exists()
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Remove the file while still holding the lock: whoever opened it
        // meanwhile finds it gone once they lock it, and opens it anew.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_named_then_it_is_free_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv.lock");
        let first = Lock::acquire(&path).unwrap();
        assert!(!first.left_by_a_dead_run);
        let err = Lock::acquire(&path).unwrap_err().to_string();
        assert!(
            err.contains(&format!("PID {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains("r.csv.lock"), "{err}");
        drop(first);
        assert!(!path.exists());
        let again = Lock::acquire(&path).unwrap();
        assert_eq!(again.path(), path);
        // A run that finished leaves nothing behind to wait for.
        assert!(!again.left_by_a_dead_run);
    }

    #[test]
    fn a_lock_file_removed_by_its_finishing_holder_is_not_locked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.lock");
        let first = Lock::acquire(&path).unwrap();
        // Another run opens the file just before the first one finishes.
        let opened_late = File::options().read(true).write(true).open(&path).unwrap();
        drop(first);
        // A third run starts and takes a new file at the path.
        let third = Lock::acquire(&path).unwrap();
        // The late one gets the old, removed file's lock: it must not count.
        assert!(Lock::take(opened_late, &path).unwrap().is_none());
        // Opening again finds the third run.
        assert!(matches!(Lock::acquire(&path), Err(LockError::Held { .. })));
        drop(third);
    }

    #[test]
    fn a_stale_lock_file_from_a_dead_run_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.lock");
        // What a run killed with -9 leaves: the file, with no lock on it.
        std::fs::write(&path, "999999\n").unwrap();
        let lock = Lock::acquire(&path).unwrap();
        assert!(lock.left_by_a_dead_run);
        let pid = std::fs::read_to_string(lock.path()).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());
    }

    #[test]
    fn the_default_lock_sits_next_to_the_report() {
        assert_eq!(
            default_path(Path::new("reports/2026-11-28.csv")),
            PathBuf::from("reports/2026-11-28.csv.lock")
        );
    }
}
