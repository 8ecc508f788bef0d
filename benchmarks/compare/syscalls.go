//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// syscallCounter is a running perf stat that counts one process's system
// calls: the kernel's own tally, so unlike strace it costs the server
// next to nothing and leaves its CPU figures alone.
type syscallCounter struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan error

	once  sync.Once
	count float64
	err   error
}

// countSyscalls starts counting pid's system calls (every thread, and the
// threads they start) until stop.
func countSyscalls(ctx context.Context, pid int) (*syscallCounter, error) {
	c := &syscallCounter{done: make(chan error, 1)}
	c.cmd = exec.CommandContext(ctx, "perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter", "-p", strconv.Itoa(pid))
	c.cmd.Stderr = &c.out // perf stat writes its counts to stderr
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("count syscalls: %w", err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	return c, nil
}

// stop ends the count and returns it; later calls return the same.
func (c *syscallCounter) stop() (float64, error) {
	c.once.Do(func() {
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.done:
			c.count, c.err = parsePerfCount(c.out.String())
		case <-time.After(5 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
			c.err = fmt.Errorf("count syscalls: perf stat did not stop on SIGINT")
		}
	})
	return c.count, c.err
}

// parsePerfCount reads the count of raw_syscalls:sys_enter from perf stat
// -x , output ("12345,,raw_syscalls:sys_enter,...").
func parsePerfCount(out string) (float64, error) {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 || f[2] != "raw_syscalls:sys_enter" {
			continue
		}
		n, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("count syscalls: perf stat counted %q (is tracing allowed? see perf_event_paranoid)", f[0])
		}
		return n, nil
	}
	return 0, fmt.Errorf("count syscalls: no count in perf stat's output: %q", strings.TrimSpace(out))
}
