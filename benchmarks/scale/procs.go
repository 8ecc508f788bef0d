//go:build linux

package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sockline/sockline/benchmarks/internal/procstat"
	"github.com/sockline/sockline/internal/testredis"
)

// rssKiB is the resident set size of process pid in KiB; 0 when it
// cannot be read (the process is gone).
func rssKiB(pid int) int64 {
	n, _ := procstat.RSSKiB(pid)
	return n
}

// raiseFileLimit raises the soft limit of open files to the hard one; the
// processes started inherit it.
func raiseFileLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("setrlimit: %w", err)
	}
	return l.Cur, nil
}

// freePort returns a port free on 127.0.0.1 now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// proc is a process the driver started: killed by procs.stopAll whatever
// happens.
type proc struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // set before exited is closed
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// alive tells whether the process still runs.
func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop asks the process to end (SIGTERM), and kills it after grace.
func (p *proc) stop(grace time.Duration) {
	if !p.alive() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// procs holds every process started, so that none outlives the driver.
type procs struct {
	dir string // logs and the built binaries

	mu   sync.Mutex
	list []*proc
}

// start starts a process; its stderr goes to stderr (may be nil: a log
// file in the directory) and its stdout to stdout (nil: the same log).
func (ps *procs) start(name string, env []string, stdout, stderr io.Writer, bin string, args ...string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	if stdout == nil || stderr == nil {
		log, err := os.Create(filepath.Join(ps.dir, name+".log"))
		if err != nil {
			return nil, err
		}
		defer log.Close() // the child has its own descriptor
		if stdout == nil {
			stdout = log
		}
		if stderr == nil {
			stderr = log
		}
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	return p, nil
}

// stopAll stops every process still running, the last started first.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	list := ps.list
	ps.list = nil
	ps.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		list[i].stop(15 * time.Second)
	}
}

// build builds the testserver and sockline binaries into the directory.
func (ps *procs) build() (testserver, sockline string, err error) {
	testserver, sockline = filepath.Join(ps.dir, "testserver"), filepath.Join(ps.dir, "sockline")
	for _, b := range [][2]string{{testserver, "./examples/testserver"}, {sockline, "./cmd/sockline"}} {
		out, err := exec.Command("go", "build", "-o", b[0], b[1]).CombinedOutput()
		if err != nil {
			return "", "", fmt.Errorf("go build %s: %w: %s", b[1], err, out)
		}
	}
	return testserver, sockline, nil
}

// startRedis starts a redis-server on a free port of 127.0.0.1, without
// persistence, and waits until it answers.
func (ps *procs) startRedis() (*proc, string, error) {
	bin, err := testredis.Find()
	if err != nil {
		return nil, "", err
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	p, err := ps.start("redis", nil, nil, nil, bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", ps.dir, "--protected-mode", "yes", "--loglevel", "warning")
	if err != nil {
		return nil, "", err
	}
	if err := waitFor(p, 10*time.Second, func() error { return redisPing(addr) }); err != nil {
		return nil, "", fmt.Errorf("redis-server: %w", err)
	}
	return p, addr, nil
}

func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// node is one testserver process.
type node struct {
	*proc
	url string // http://127.0.0.1:PORT
}

// startNodes starts n testserver nodes on free ports, on the Redis at
// redisAddr ("" for a single node without one), with the given heartbeat
// delay, and waits until each answers /echo/info.
func (ps *procs) startNodes(bin string, n int, redisAddr string, heartbeat time.Duration) ([]node, error) {
	var secret [32]byte
	_, _ = rand.Read(secret[:])
	env := []string{"SOCKLINE_CLUSTER_SECRET=" + hex.EncodeToString(secret[:])}
	var nodes []node
	for i := range n {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		args := []string{"-addr", addr, "-heartbeat", heartbeat.String()}
		if redisAddr != "" {
			args = append(args, "-redis", redisAddr, "-node", fmt.Sprintf("node%d", i))
		}
		p, err := ps.start(fmt.Sprintf("node%d", i), env, nil, nil, bin, args...)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, node{proc: p, url: "http://" + addr})
	}
	for _, nd := range nodes {
		if err := waitFor(nd.proc, 30*time.Second, func() error { return getOK(nd.url + "/echo/info") }); err != nil {
			return nil, fmt.Errorf("%s: %w (log: %s)", nd.name, err, filepath.Join(ps.dir, nd.name+".log"))
		}
	}
	return nodes, nil
}

func getOK(url string) error {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// waitFor polls ready until it succeeds, p exits or d passes.
func waitFor(p *proc, d time.Duration, ready func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if !p.alive() {
			return fmt.Errorf("exited at start (%v)", p.err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// marks is a bench process's stderr: it keeps the lines that matter (the
// bench marks) and signals each on a channel.
type marks struct {
	mu    sync.Mutex
	lines []string
	tail  string
	ch    chan string
	log   io.Writer
}

func newMarks(log io.Writer) *marks { return &marks{ch: make(chan string, 64), log: log} }

func (m *marks) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.log != nil {
		_, _ = m.log.Write(p)
	}
	s := m.tail + string(p)
	parts := strings.Split(s, "\n")
	m.tail = parts[len(parts)-1]
	for _, l := range parts[:len(parts)-1] {
		if strings.HasPrefix(l, "bench: ") || strings.HasPrefix(l, "idle: ") {
			m.lines = append(m.lines, l)
			select {
			case m.ch <- l:
			default:
			}
		}
	}
	return len(p), nil
}

// waitMark waits for a line starting with prefix from the bench of p,
// until d passes or p exits.
func waitMark(p *proc, m *marks, prefix string, d time.Duration) (string, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if l, ok := m.find(prefix); ok {
			return l, nil
		}
		select {
		case <-m.ch:
		case <-tick.C:
		case <-p.exited:
			if l, ok := m.find(prefix); ok {
				return l, nil
			}
			return "", fmt.Errorf("%s exited (%v) before %q", p.name, p.err, prefix)
		case <-t.C:
			return "", errors.New(p.name + ": no " + strconv.Quote(prefix) + " within " + d.String())
		}
	}
}

// find returns the first line starting with prefix.
func (m *marks) find(prefix string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.lines {
		if strings.HasPrefix(l, prefix) {
			return l, true
		}
	}
	return "", false
}
