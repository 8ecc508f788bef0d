// Package testrabbit starts a private rabbitmq-server with its STOMP plugin
// for tests: every port (AMQP, STOMP, Erlang distribution, epmd) is a free
// loopback port, every file lives in a temporary directory, and its own epmd
// is started and killed with it (an epmd left behind outlives the node).
//
// A second STOMP listener speaks TLS (TLSAddr), with a certificate signed
// by a throw-away CA (CAPEM).
//
// A node takes 6-10 s to start, so a test binary shares one: start it in
// TestMain with Start and Stop it there. Kill and Restart (same ports) and
// Pause and Resume (SIGSTOP: the broker goes silent, its sockets stay open)
// are for outage and heart-beat tests.
//
// When rabbitmq-server is not installed, Find returns ErrNotInstalled; tests
// skip with its message outside CI and fail in CI ($CI set), as
// scripts/test-all.sh installs it (scripts/install-rabbitmq.sh).
package testrabbit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNotInstalled is returned by Find when rabbitmq-server or epmd is missing.
var ErrNotInstalled = errors.New("testrabbit: rabbitmq-server not found: install it with `bash scripts/install-rabbitmq.sh` (scripts/test-all.sh does) or set RABBITMQ_SERVER to its path")

// startTimeout bounds one start of the node (it usually takes 6-10 s).
const startTimeout = 60 * time.Second

// Find returns the paths of rabbitmq-server (not Debian's /usr/sbin wrapper,
// which switches to the rabbitmq user) and epmd: $RABBITMQ_SERVER, else
// Debian's /usr/lib/rabbitmq/bin/rabbitmq-server; epmd from PATH.
func Find() (server, epmd string, err error) {
	server = os.Getenv("RABBITMQ_SERVER")
	if server == "" {
		server = "/usr/lib/rabbitmq/bin/rabbitmq-server"
	}
	if _, err := os.Stat(server); err != nil {
		return "", "", ErrNotInstalled
	}
	if epmd, err = exec.LookPath("epmd"); err != nil {
		return "", "", fmt.Errorf("%w (epmd is missing)", ErrNotInstalled)
	}
	return server, epmd, nil
}

// Server is one RabbitMQ node on 127.0.0.1 with the STOMP plugin, and its epmd.
type Server struct {
	bin, epmdBin string
	dir          string
	ownDir       bool
	env          []string
	stompPort    int
	tlsPort      int
	caPEM        []byte

	mu   sync.Mutex
	node *proc
	epmd *proc
}

// proc is a child process in its own process group, waited for once.
type proc struct {
	cmd    *exec.Cmd
	stdin  *os.File // held open: the node's Erlang shell halts at its EOF
	exited chan struct{}
}

// startProc starts cmd in its own process group. Should the test binary die
// without Stop (a timeout's panic, a kill), the child is not left behind:
// it gets SIGKILL (Pdeathsig, kept across the exec chain of
// rabbitmq-server, erl and beam.smp), and its stdin, a pipe only this
// process holds, reaches EOF.
func startProc(cmd *exec.Cmd) (*proc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdin = r
	err = cmd.Start()
	_ = r.Close()
	if err != nil {
		_ = w.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, stdin: w, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited); _ = w.Close() }()
	return p, nil
}

// kill SIGKILLs the whole process group (beam.smp and its helpers) and waits.
func (p *proc) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

func (p *proc) signal(sig syscall.Signal) error {
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}

// Start starts a node in a new temporary directory and waits until its
// STOMP listener answers CONNECT with CONNECTED. Stop it with Stop.
func Start() (*Server, error) {
	bin, epmdBin, err := Find()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "testrabbit-")
	if err != nil {
		return nil, fmt.Errorf("testrabbit: temp dir: %w", err)
	}
	ports, err := freePorts(5)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	epmdPort, amqpPort, distPort, stompPort, tlsPort := ports[0], ports[1], ports[2], ports[3], ports[4]
	s := &Server{bin: bin, epmdBin: epmdBin, dir: dir, ownDir: true, stompPort: stompPort, tlsPort: tlsPort}
	if s.caPEM, err = writeTLSFiles(dir); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("testrabbit: make the TLS certificates: %w", err)
	}
	conf := fmt.Sprintf(`listeners.tcp.1 = 127.0.0.1:%d
stomp.listeners.tcp.1 = 127.0.0.1:%d
stomp.listeners.ssl.1 = 127.0.0.1:%d
ssl_options.cacertfile = %s
ssl_options.certfile = %s
ssl_options.keyfile = %s
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
log.console = true
log.console.level = warning
log.file = false
`, amqpPort, stompPort, tlsPort, filepath.Join(dir, caFileName), filepath.Join(dir, certFileName), filepath.Join(dir, keyFileName))
	files := map[string]string{
		"rabbitmq.conf":   conf,
		"enabled_plugins": "[rabbitmq_stomp].\n",
		"env.conf":        "",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("testrabbit: %w", err)
		}
	}
	s.env = append(os.Environ(),
		"HOME="+dir, // the Erlang cookie is made here
		// exec the VM instead of running it under a shell that traps
		// signals: beam.smp is then the child startProc watches over.
		"RABBITMQ_ALLOW_INPUT=1",
		"ERL_EPMD_PORT="+strconv.Itoa(epmdPort),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"RABBITMQ_NODENAME=testrabbit"+strconv.Itoa(stompPort)+"@localhost",
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(amqpPort),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(distPort),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(dir, "advanced.config"),
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(dir, "env.conf"),
		"RABBITMQ_PID_FILE="+filepath.Join(dir, "rabbit.pid"),
	)
	epmd := exec.Command(epmdBin, "-port", strconv.Itoa(epmdPort), "-address", "127.0.0.1")
	epmd.Env = s.env
	if s.epmd, err = startProc(epmd); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("testrabbit: start epmd: %w", err)
	}
	if err := s.start(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Addr returns the STOMP listener's address, host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.stompPort)) }

// TLSAddr returns the STOMP over TLS listener's address (stomp+ssl), whose
// certificate, for 127.0.0.1 and localhost, is signed by CAPEM.
func (s *Server) TLSAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.tlsPort)) }

// CAPEM returns the throw-away CA that signed the TLS listener's certificate.
func (s *Server) CAPEM() []byte { return append([]byte(nil), s.caPEM...) }

func (s *Server) start() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	out := &lockedWriter{w: new(bytes.Buffer)}
	cmd := exec.Command(s.bin)
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = out, out
	node, err := startProc(cmd)
	if err != nil {
		return fmt.Errorf("testrabbit: start %s: %w", s.bin, err)
	}
	s.mu.Lock()
	s.node = node
	s.mu.Unlock()
	for {
		if err := stompPing(ctx, s.Addr()); err == nil {
			return nil
		}
		select {
		case <-node.exited:
			return fmt.Errorf("testrabbit: rabbitmq-server exited while starting: %s", out.String())
		case <-ctx.Done():
			node.kill()
			return fmt.Errorf("testrabbit: rabbitmq-server not answering STOMP on %s after %v: %s", s.Addr(), startTimeout, out.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Kill SIGKILLs the node (its clients see their connections reset); epmd
// stays, so Restart can start it again on the same ports.
func (s *Server) Kill() {
	s.mu.Lock()
	node := s.node
	s.node = nil
	s.mu.Unlock()
	if node != nil {
		_ = node.signal(syscall.SIGCONT) // a paused node must not keep its group alive
		node.kill()
	}
}

// Restart starts a killed node again on the same ports and waits until it
// answers.
func (s *Server) Restart() error {
	s.Kill()
	return s.start()
}

// Pause stops the node with SIGSTOP: its sockets stay open and it sends
// nothing (no heart-beats) until Resume.
func (s *Server) Pause() error { return s.signalNode(syscall.SIGSTOP) }

// Resume continues a paused node.
func (s *Server) Resume() error { return s.signalNode(syscall.SIGCONT) }

func (s *Server) signalNode(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.node == nil {
		return errors.New("testrabbit: node not running")
	}
	return s.node.signal(sig)
}

// Stop kills the node and its epmd and removes its directory.
func (s *Server) Stop() {
	s.Kill()
	s.mu.Lock()
	epmd := s.epmd
	s.epmd = nil
	s.mu.Unlock()
	if epmd != nil {
		epmd.kill()
	}
	if s.ownDir {
		_ = os.RemoveAll(s.dir)
	}
}

// stompPing connects, sends CONNECT as guest and waits for CONNECTED.
func stompPing(ctx context.Context, addr string) error {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\x00")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "CONNECTED\n" {
		return fmt.Errorf("testrabbit: CONNECT answered with %q", line)
	}
	_, _ = c.Write([]byte("DISCONNECT\n\n\x00"))
	return nil
}

// freePorts returns n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("testrabbit: no free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// lockedWriter collects the node's output for error messages.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() > 64<<10 {
		return len(p), nil
	}
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

// envValue returns the value of one of the node's environment variables.
func (s *Server) envValue(key string) string {
	for i := len(s.env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(s.env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

// CPUTime returns the CPU time (user and system) used so far by the node's
// processes (beam.smp and its helpers), read from /proc: for measurements.
func (s *Server) CPUTime() (time.Duration, error) {
	s.mu.Lock()
	node := s.node
	s.mu.Unlock()
	if node == nil {
		return 0, errors.New("testrabbit: node not running")
	}
	pgid := node.cmd.Process.Pid
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("testrabbit: %w", err)
	}
	var ticks int64
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command (which may hold spaces) in ")": state,
		// ppid, pgrp, ... utime is field 14 and stime 15 of the whole line.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 13 || f[2] != strconv.Itoa(pgid) {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + st
	}
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
