package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/paybridge/paybridge/internal/cli"
)

// dataDirLockName is the file in --data-dir that serve holds a lock on
// while its embedded NATS server runs.
const dataDirLockName = "paybridge.lock"

// lockDataDir takes the data directory for this process. Two embedded
// servers on one store each believe they own it: both answer, and the
// changes one acknowledges are lost when the other writes over them. The
// lock is the kernel's, so it goes with the process however it ends; the
// file says who holds it, so that the one refused can name the holder. It
// returns the release, for after the embedded server has stopped.
func lockDataDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, dataDirLockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, cli.UsageError{Err: fmt.Errorf("--data-dir: %w", err)}
	}
	locked, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("--data-dir: locking %s: %w", path, err)
	}
	if !locked {
		holder := lockHolder(f)
		f.Close()
		return nil, cli.Usagef("--data-dir: %q is in use by another paybridge serve (%s); run each serve on a data directory of its own", dir, holder)
	}
	// Only the holder writes: the file is truncated under the lock.
	started := time.Now().UTC().Format(time.RFC3339)
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(fmt.Appendf(nil, "pid %d started %s\n", os.Getpid(), started), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("--data-dir: writing %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// lockHolder reads who holds the lock from its file: "pid 12, started
// 2025-06-01T10:00:00Z".
func lockHolder(f *os.File) string {
	line, _ := bufio.NewReader(f).ReadString('\n')
	var pid int
	var started string
	if _, err := fmt.Sscanf(line, "pid %d started %s", &pid, &started); err != nil {
		return "which has not written its pid yet"
	}
	if _, err := time.Parse(time.RFC3339, started); err != nil {
		return fmt.Sprintf("pid %d", pid)
	}
	return fmt.Sprintf("pid %d, started %s", pid, started)
}
