package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/internal/rrproxy"
	"github.com/sockline/sockline/internal/testredis"
)

// proc is one testserver process run as a cluster node.
type proc struct {
	cmd  *exec.Cmd
	base string
	out  *strings.Builder
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startProc(t *testing.T, bin, redisURL string, extra ...string) *proc {
	t.Helper()
	addr := freeAddr(t)
	p := &proc{base: "http://" + addr, out: &strings.Builder{}}
	p.cmd = exec.Command(bin, append([]string{"-addr", addr, "-redis", redisURL}, extra...)...)
	p.cmd.Env = append(os.Environ(), "SOCKLINE_CLUSTER_SECRET=testserver cluster test secret")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(p.base + "/echo/info")
		if err == nil {
			res.Body.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("testserver on %s did not start: %v\n%s", addr, err, p.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Three testserver processes on one Redis behind a proxy that sends every
// request to the next: every HTTP transport echoes, in order; killing the
// process that owns a session ends that session with a close frame only.
// Once with requests carried through Redis, once over direct connections
// between the processes (-direct).
func TestSeparateProcessesBehindRoundRobinProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	bin := filepath.Join(t.TempDir(), "testserver")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, mode := range []struct {
		name  string
		extra []string
	}{{"through Redis", nil}, {"direct", []string{"-direct", "127.0.0.1"}}} {
		t.Run(mode.name, func(t *testing.T) { separateProcesses(t, bin, mode.extra) })
	}
}

func separateProcesses(t *testing.T, bin string, extra []string) {
	rs := testredis.Start(t)
	var procs []*proc
	var urls []string
	for range 3 {
		p := startProc(t, bin, rs.URL(), extra...)
		procs = append(procs, p)
		urls = append(urls, p.base)
	}
	proxy := rrproxy.Start(t, urls...)

	for _, tr := range []string{client.XHRStreaming, client.XHRPolling, client.EventSource} {
		t.Run(tr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := client.Dial(ctx, proxy.URL+"/echo", &client.Options{Transports: []string{tr}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(1000, "")
			for i := range 200 {
				if err := c.Send(fmt.Sprintf("%d \u00e9\u2028", i)); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 200 {
				m, err := c.Recv(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if want := fmt.Sprintf("%d \u00e9\u2028", i); m != want {
					t.Fatalf("message %d: %q, want %q", i, m, want)
				}
			}
		})
	}

	// The close service's 3000 "Go away!" crosses nodes too.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, proxy.URL+"/close", &client.Options{Transports: []string{client.XHRPolling}})
	if err == nil {
		_, err = c.Recv(ctx)
	}
	var ce *client.CloseError
	if !errors.As(err, &ce) || ce.Code != 3000 || ce.Reason != "Go away!" {
		t.Fatalf("close service through the cluster: %v", err)
	}

	// Kill the owner of a session hard; the others' sessions go on.
	victim := procs[0]
	res, err := http.Post(victim.base+"/echo/000/victim/xhr", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	survivor, err := client.Dial(ctx, procs[1].base+"/echo", &client.Options{Transports: []string{client.XHRStreaming}})
	if err != nil {
		t.Fatal(err)
	}
	defer survivor.Close(1000, "")
	if err := victim.cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	time.Sleep(12 * time.Second) // the default 10 s lease runs out
	res, err = http.Post(procs[2].base+"/echo/000/victim/xhr", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 64)
	n, _ := res.Body.Read(body)
	res.Body.Close()
	if got := string(body[:n]); got != "c[1011,\"Session lost\"]\n" {
		t.Fatalf("poll for the killed node's session: %q, want the 1011 close frame", got)
	}
	if err := survivor.Send("still here"); err != nil {
		t.Fatal(err)
	}
	if m, err := survivor.Recv(ctx); err != nil || m != "still here" {
		t.Fatalf("surviving session: %q, %v", m, err)
	}
}

// Cluster mode refuses to start without the shared secret, and says how to
// set it.
func TestClusterModeNeedsTheSecret(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "testserver")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	rs := testredis.Start(t)
	cmd := exec.Command(bin, "-addr", freeAddr(t), "-redis", rs.URL())
	cmd.Env = append(os.Environ(), "SOCKLINE_CLUSTER_SECRET=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "SOCKLINE_CLUSTER_SECRET") {
		t.Fatalf("started without a secret: %v\n%s", err, out)
	}
}
