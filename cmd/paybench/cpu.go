package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat: Linux fixes it
// at 100 ticks per second for user space.
const userHZ = 100

// readCPU returns the CPU time (user + system) a process has used, from
// /proc/<pid>/stat (Linux).
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces;
	// utime and stime are fields 14 and 15, the 12th and 13th after it.
	end := strings.LastIndexByte(string(b), ')')
	if end < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// cpuSplit is the CPU time used by the bridge's process and by paybench's
// own (NATS server, paysim, load), when they are apart, and by the NATS
// server's when it runs apart too (--nats subprocess; hasNATS).
type cpuSplit struct {
	bridge, world, nats time.Duration
	hasNATS             bool
}

// readCPUSplit reads them; ok is false when the bridge runs in process
// (nothing to split) or /proc cannot be read.
func (b *bench) readCPUSplit() (cpuSplit, bool) {
	if b.world == nil || b.world.bridge.pid() == os.Getpid() {
		return cpuSplit{}, false
	}
	br, err1 := readCPU(b.world.bridge.pid())
	self, err2 := readCPU(os.Getpid())
	if err1 != nil || err2 != nil {
		return cpuSplit{}, false
	}
	s := cpuSplit{bridge: br, world: self}
	if pid := b.world.natsPid(); pid != 0 {
		n, err := readCPU(pid)
		if err != nil {
			return cpuSplit{}, false
		}
		s.nats, s.hasNATS = n, true
	}
	return s, true
}

// fetchCPUProfile copies a CPU profile of the next d (whole seconds, as
// /debug/pprof/profile takes them) from the Go process of what serving
// pprof on hostport to w.
func fetchCPUProfile(ctx context.Context, what, hostport string, d time.Duration, w io.Writer) error {
	secs := max(1, int((d+time.Second/2)/time.Second))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", hostport, secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s CPU profile: %w", what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s CPU profile: %s", what, resp.Status)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}
