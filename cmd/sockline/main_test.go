package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/sockline/sockline/examples/testserver/services"
	"github.com/sockline/sockline/sockjs"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	// cat and probe use the default transport; its idle connections are
	// not leaks.
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	if code == 0 {
		// The testserver's /stomp bus lives as long as the process.
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/sockline/sockline/pubsub.(*Memory).deliver")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var transports = []string{"websocket", "xhr-streaming", "eventsource", "xhr-polling"}

// startServer serves the testserver services plus two faulty echo
// services, /dup (every message echoed twice) and /drop (every tenth
// message dropped), for bench's loss and duplicate accounting.
func startServer(t *testing.T) string {
	t.Helper()
	mux, shutdown := services.New(services.Config{})
	r := chi.NewRouter()
	r.Mount("/", mux)
	dup := sockjs.NewHandler(sockjs.Options{}, func(ctx context.Context, s *sockjs.Session) {
		for {
			m, err := s.Recv(ctx)
			if err != nil {
				return
			}
			s.Send(m)
			s.Send(m)
		}
	})
	drop := sockjs.NewHandler(sockjs.Options{}, func(ctx context.Context, s *sockjs.Session) {
		for i := 0; ; i++ {
			m, err := s.Recv(ctx)
			if err != nil {
				return
			}
			if i%10 != 9 {
				s.Send(m)
			}
		}
	})
	r.Mount("/dup", dup)
	r.Mount("/drop", drop)
	ts := httptest.NewServer(r)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdown(ctx)
		_ = dup.Shutdown(ctx)
		_ = drop.Shutdown(ctx)
		ts.CloseClientConnections()
		ts.Close()
	})
	return ts.URL
}

// sockline runs the command with args and stdin, returning its exit code
// and output.
func sockline(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
	}{
		{nil, 2},
		{[]string{"frobnicate"}, 2},
		{[]string{"cat"}, 2},
		{[]string{"probe", "a", "b"}, 2},
		{[]string{"bench", "-mode", "chaos", "http://x"}, 2},
		{[]string{"bench", "-n", "0", "http://x"}, 2},
		{[]string{"bench", "-mode", "idle", "-openers", "0", "http://x"}, 2},
		{[]string{"bench", "-open-timeout", "-1s", "http://x"}, 2},
		{[]string{"bench", "-mode", "idle", "-heartbeat", "-1s", "http://x"}, 2},
		{[]string{"bench", "-source", "127.0.0.x", "http://x"}, 2},
		{[]string{"help"}, 0},
	}
	for _, tt := range tests {
		if code, _, _ := sockline(t, "", tt.args...); code != tt.code {
			t.Errorf("sockline %q exited %d, want %d", tt.args, code, tt.code)
		}
	}
}

func TestCat(t *testing.T) {
	url := startServer(t)
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			in := "hello\nwörld 😀\n\n" + strings.Repeat("z", 70000) + "\n"
			code, out, errOut := sockline(t, in, "cat", "-t", tr, "-linger", "3s", url+"/echo")
			if code != 0 || out != in {
				t.Fatalf("exit %d, stdout %.60q, stderr %q; want the input echoed", code, out, errOut)
			}
			if !strings.Contains(errOut, "over "+tr) {
				t.Fatalf("stderr %q does not name the transport", errOut)
			}
		})
	}
	t.Run("server close", func(t *testing.T) {
		code, _, errOut := sockline(t, "", "cat", url+"/close")
		if code != 0 || !strings.Contains(errOut, `3000 "Go away!"`) {
			t.Fatalf("exit %d, stderr %q; want the server's close", code, errOut)
		}
	})
	t.Run("nothing there", func(t *testing.T) {
		code, _, errOut := sockline(t, "", "cat", url+"/nothing")
		if code != 1 || !strings.Contains(errOut, "Cannot connect") {
			t.Fatalf("exit %d, stderr %q; want a failure", code, errOut)
		}
	})
}

func TestProbe(t *testing.T) {
	url := startServer(t)
	code, out, errOut := sockline(t, "", "probe", url+"/disabled_websocket_echo")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	want := map[string]string{"websocket": "fail", "xhr-streaming": "ok", "eventsource": "ok", "xhr-polling": "ok"}
	for tr, res := range want {
		found := false
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) >= 4 && f[0] == tr {
				found = true
				if f[1] != res {
					t.Errorf("%s: %q, want %s", tr, line, res)
				}
				if res == "ok" && (!strings.HasSuffix(f[2], "ms") || !strings.HasSuffix(f[3], "ms")) {
					t.Errorf("%s: %q, want open and round-trip times", tr, line)
				}
			}
		}
		if !found {
			t.Errorf("no row for %s in:\n%s", tr, out)
		}
	}

	code, out, _ = sockline(t, "", "probe", "-json", url+"/echo")
	var res struct {
		Results []probeResult `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || len(res.Results) != 4 {
		t.Fatalf("probe -json: exit %d, %v, %s", code, err, out)
	}
	for _, r := range res.Results {
		if !r.OK || r.RoundTrip <= 0 {
			t.Errorf("%+v: want ok with a round trip", r)
		}
	}

	if code, _, _ := sockline(t, "", "probe", "-timeout", "500ms", url+"/nothing"); code != 1 {
		t.Errorf("probe of nothing exited %d, want 1", code)
	}
}

// bench runs sockline bench -json and decodes its summary.
func bench(t *testing.T, args ...string) (benchSummary, string) {
	t.Helper()
	code, out, errOut := sockline(t, "", append([]string{"bench", "-json"}, args...)...)
	var s benchSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil || code != 0 {
		t.Fatalf("bench %q: exit %d, %v; stdout %s stderr %s", args, code, err, out, errOut)
	}
	return s, errOut
}

func TestBench(t *testing.T) {
	url := startServer(t)
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			s, progress := bench(t, "-t", tr, "-n", "3", "-w", "4", "-s", "200", "-d", "1500ms", url+"/echo")
			if s.Connected != 3 || s.Sent == 0 || s.Received != s.Sent || s.Lost != 0 || s.Duplicated != 0 || s.Errors != 0 {
				t.Fatalf("summary %+v: want every message back once", s)
			}
			if s.P50ms <= 0 || s.P999ms < s.P50ms || s.MaxMs < s.P999ms || s.MsgsPerSec <= 0 {
				t.Fatalf("summary %+v: latencies or rate make no sense", s)
			}
			if !strings.Contains(progress, "msgs/s") {
				t.Fatalf("no progress line on stderr: %q", progress)
			}
		})
	}
	t.Run("duplicates", func(t *testing.T) {
		s, _ := bench(t, "-n", "2", "-d", "500ms", url+"/dup")
		if s.Duplicated == 0 || s.Duplicated != s.Received-s.Sent+s.Lost {
			t.Fatalf("summary %+v: want every message counted twice", s)
		}
	})
	t.Run("losses", func(t *testing.T) {
		s, _ := bench(t, "-n", "2", "-w", "20", "-d", "500ms", "-drain", "300ms", url+"/drop")
		if s.Lost == 0 || s.Lost < s.Sent/10-2 {
			t.Fatalf("summary %+v: want a tenth lost", s)
		}
	})
	// -rate in echo mode: an open loop on schedule, about rate × duration
	// messages over all sessions however fast the echoes come (sends that
	// fell behind on a loaded machine go out at once, so the count holds).
	t.Run("open loop", func(t *testing.T) {
		s, _ := bench(t, "-t", "xhr-polling", "-n", "4", "-rate", "200", "-d", "1s", url+"/echo")
		if s.OpenLoopRate != 200 || s.InFlight != 0 {
			t.Fatalf("summary %+v: want the open loop's rate reported", s)
		}
		if s.Sent < 160 || s.Sent > 240+4 || s.Received != s.Sent || s.Lost != 0 || s.Duplicated != 0 || s.Errors != 0 {
			t.Fatalf("summary %+v: want about 200 messages sent in 1 s and each back once", s)
		}
	})
	t.Run("broadcast", func(t *testing.T) {
		s, _ := bench(t, "-mode", "broadcast", "-t", "xhr-streaming", "-n", "4", "-rate", "50", "-d", "1s", url+"/broadcast")
		if s.Sent == 0 || s.Received != 4*s.Sent || s.Lost != 0 || s.Duplicated != 0 {
			t.Fatalf("summary %+v: want each of 4 sessions to get every message", s)
		}
	})
}
