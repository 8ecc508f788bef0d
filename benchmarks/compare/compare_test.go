//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSmoke builds everything and runs one tiny round of two scenarios on
// every server, then checks that every cell that should have a figure has
// one, and that no server or bench process is left.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds four programs and starts a dozen processes")
	}
	if _, err := os.Stat(filepath.Join("..", "..", "node_modules", "sockjs", "package.json")); err != nil {
		t.Skip("node_modules/sockjs is missing (npm ci at the repository root)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"-rounds", "1", "-d", "300ms", "-idle-n", "50", "-settle", "200ms", "-hold", "200ms",
		"-scenarios", "ws-echo,xs-idle"}, &out, &errOut)
	t.Logf("stderr:\n%s", errOut.String())
	if code != 0 {
		t.Fatalf("exit %d; stdout:\n%s", code, out.String())
	}
	table := out.String()
	t.Logf("stdout:\n%s", table)

	// The headline table: one row per scenario, a cell per server.
	want := map[string][]string{
		"websocket echo: server CPU per message":                 {`^[0-9.]+ µs \(`, `^[0-9.]+ µs \(`, `^[0-9.]+ µs \(`, `^[0-9.]+ µs \(`},
		"50 idle xhr-streaming sessions: server RSS per session": {`^-?[0-9.]+ KiB \(`, `^-?[0-9.]+ KiB`, `^-?[0-9.]+ KiB \(`, `^n/a$`},
	}
	lines := strings.Split(table, "\n")
	if !slices.Contains(lines, "| scenario | sockline | sockjs-go | sockjs-node | gorilla |") {
		t.Fatalf("no header naming the four servers in:\n%s", table)
	}
	for row, cells := range want {
		found := false
		for _, line := range lines {
			if !strings.HasPrefix(line, "| "+row+" |") {
				continue
			}
			found = true
			got := strings.Split(strings.Trim(strings.TrimPrefix(line, "| "+row+" |"), " |"), " | ")
			if len(got) != len(cells) {
				t.Errorf("row %q: %d cells %q, want %d", row, len(got), got, len(cells))
				continue
			}
			for i, re := range cells {
				if !regexp.MustCompile(re).MatchString(got[i]) {
					t.Errorf("row %q, column %d: %q, want %s", row, i+1, got[i], re)
				}
			}
		}
		if !found {
			t.Errorf("no row %q in:\n%s", row, table)
		}
	}
	if strings.Contains(table, "error") {
		t.Errorf("a run failed:\n%s", table)
	}
	for _, pid := range children(t) {
		t.Errorf("process %d, a child of the test, is still running", pid)
	}
}

// children lists the processes whose parent is this test process.
func children(t *testing.T) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			pids = append(pids, pid)
		}
	}
	return pids
}
