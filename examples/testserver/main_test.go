package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The test server, built and run as a process, shuts down gracefully on
// SIGTERM: an attached xhr_streaming client gets the close frame and the
// end of its response, a websocket client the close frame and a WebSocket
// close, and the process exits with status 0.
func TestSIGTERMClosesSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the program")
	}
	bin := filepath.Join(t.TempDir(), "testserver")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{}) // closed once waitErr is set
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // fails harmlessly once it has exited
		<-exited
	})
	// The log tells the address it listens on; the rest of it is kept for
	// failure messages.
	addr := make(chan string, 1)
	var logged strings.Builder
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			logged.WriteString(line + "\n")
			if _, a, ok := strings.Cut(line, "listening on http://"); ok {
				addr <- a
			}
		}
	}()
	go func() {
		<-logDone // Wait must not run before the pipe is read to its end
		waitErr = cmd.Wait()
		close(exited)
	}()
	var host string
	select {
	case host = <-addr:
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not log its address")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws://"+host+"/echo/000/"+rand.Text()+"/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, m, err := ws.ReadMessage(); err != nil || string(m) != "o" {
		t.Fatalf("websocket: %q, %v; want the open frame", m, err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+host+"/echo/000/"+rand.Text()+"/xhr_streaming", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	next := func() string {
		t.Helper()
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v (after %q)", err, line)
		}
		return line
	}
	if l := next(); l != strings.Repeat("h", 2048)+"\n" {
		t.Fatalf("prelude %q", l)
	}
	if l := next(); l != "o\n" {
		t.Fatalf("got %q; want the open frame", l)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if l := next(); l != `c[1001,"Server is shutting down"]`+"\n" {
		t.Fatalf("got %q; want the shutdown close frame", l)
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("after the close frame: %q, %v; want the response to end cleanly", rest, err)
	}
	if _, m, err := ws.ReadMessage(); err != nil || string(m) != `c[1001,"Server is shutting down"]` {
		t.Fatalf("websocket: %q, %v; want the shutdown close frame", m, err)
	}
	var ce *websocket.CloseError
	if _, _, err := ws.ReadMessage(); !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
		t.Fatalf("websocket ended with %v; want a close frame 1000", err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("the server exited with %v; want status 0. Its log:\n%s", waitErr, logged.String())
		}
	case <-ctx.Done():
		t.Fatal("the server did not exit after SIGTERM")
	}
}
