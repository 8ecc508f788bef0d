//go:build linux

package procstat

import (
	"os"
	"testing"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    float64
		wantErr bool
	}{
		{"plain", "42 (sockline) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0", 3, false},
		{"spaces and parens in the name", "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 100 100 0 0 20 0", 2, false},
		{"no name", "42 sockline S 1", 0, true},
		{"too short", "42 (x) S 1 2 3", 0, true},
		{"not numbers", "42 (x) S 1 42 42 0 -1 4194560 100 0 0 0 u s 0 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat(42, tt.stat)
			if (err != nil) != tt.wantErr || (err == nil && got != tt.want*100/clockTicks) {
				t.Fatalf("parseStat(%q) = %v, %v; want %v s at 100 ticks/s, error %v", tt.stat, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestOwnProcess(t *testing.T) {
	if _, err := CPUSeconds(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	rss, err := RSSKiB(os.Getpid())
	if err != nil || rss <= 0 {
		t.Fatalf("RSSKiB = %d, %v", rss, err)
	}
}
