//go:build linux

package main

import "testing"

func TestParsePerfCount(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    float64
		wantErr bool
	}{
		{"count", "123456,,raw_syscalls:sys_enter,2003456789,100.00,,\n", 123456, false},
		{"after a blank line", "\n  \n98,,raw_syscalls:sys_enter,1,100.00,,\n", 98, false},
		{"not counted", "<not counted>,,raw_syscalls:sys_enter,0,0.00,,\n", 0, true},
		{"not supported", "<not supported>,,raw_syscalls:sys_enter,0,0.00,,\n", 0, true},
		{"no such event", "event syntax error: 'raw_syscalls:sys_enter'\n", 0, true},
		{"empty", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePerfCount(tt.out)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("parsePerfCount(%q) = %v, %v; want %v, error %v", tt.out, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
