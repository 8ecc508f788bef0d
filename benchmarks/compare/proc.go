//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// taskset is the path of taskset, or "" where there is none.
var taskset = func() string {
	p, err := exec.LookPath("taskset")
	if err != nil {
		return ""
	}
	return p
}()

// child is a process this program started: in a process group of its own,
// killed with its group when ctx ends, when stop is called, or (by the
// kernel, Pdeathsig) when this program dies.
type child struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startChild starts argv, pinned to CPU cpu when taskset exists (cpu < 0:
// unpinned), in directory dir.
func startChild(ctx context.Context, cpu int, dir string, stdout, stderr io.Writer, argv ...string) (*child, error) {
	if taskset != "" && cpu >= 0 {
		argv = append([]string{taskset, "-c", strconv.Itoa(cpu)}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	return c, nil
}

// pid is the child's process id (taskset execs the program, so it is the
// program's).
func (c *child) pid() int { return c.cmd.Process.Pid }

// stop ends the child's process group: SIGTERM, then SIGKILL after a
// second; it returns once the child has been waited for.
func (c *child) stop() {
	select {
	case <-c.done:
	default:
		_ = syscall.Kill(-c.pid(), syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(time.Second):
			_ = syscall.Kill(-c.pid(), syscall.SIGKILL)
			<-c.done
		}
	}
	// The group may outlive its leader (it should not: no server forks).
	_ = syscall.Kill(-c.pid(), syscall.SIGKILL)
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitInfo polls base+"/echo/info" until it answers 200, the child exits,
// or 15 s pass.
func waitInfo(ctx context.Context, base string, c *child) error {
	deadline := time.Now().Add(15 * time.Second)
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	for {
		resp, err := hc.Get(base + "/echo/info")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /echo/info: %s", resp.Status)
		}
		select {
		case <-c.done:
			return fmt.Errorf("server exited: %v", c.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer in 15s: %w", err)
		}
	}
}

// tail keeps the last lines written to it, for error messages.
type tail struct {
	mu    sync.Mutex
	lines []string
}

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > 5 {
		t.lines = t.lines[1:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, " | ")
}
