package cors

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// TestWebSocketHandshake drives real gorilla/websocket handshakes through
// Upgrader.CheckOrigin = CheckWebSocketOrigin: the defence against
// cross-site WebSocket hijacking.
func TestWebSocketHandshake(t *testing.T) {
	t.Parallel()
	listed := Config{
		AllowedOrigins:        []string{"https://app.example.com"},
		AllowedOriginPatterns: []string{"https://*.example.org"},
	}
	tests := []struct {
		name   string
		cfg    Config
		origin string // "" means none; "{self}" is the server's own origin
		host   string // Host header; "" means the server's address
		want   bool
	}{
		{"no origin", Config{}, "", "", true},
		{"same origin", Config{}, "{self}", "", true},
		{"same origin by host", Config{}, "http://example.com", "example.com", true},
		{"hijack attempt", Config{}, "https://evil.com", "", false},
		{"hijack with matching host name, other port", Config{}, "http://127.0.0.1:1", "", false},
		{"ws scheme is not an origin", Config{}, "ws://example.com", "example.com", false},
		{"listed", listed, "https://app.example.com", "", true},
		{"pattern", listed, "https://chat.example.org", "", true},
		{"pattern suffix attack", listed, "https://example.org.evil.com", "", false},
		{"null refused", listed, "null", "", false},
		{"null opted in", Config{AllowNullOrigin: true}, "null", "", true},
		{"any", Config{AllowAnyOrigin: true}, "https://evil.com", "", true},
		{"disabled", Config{Disabled: true}, "https://evil.com", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := mustNew(t, tt.cfg)
			up := websocket.Upgrader{CheckOrigin: p.CheckWebSocketOrigin}
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := up.Upgrade(w, r, nil)
				if err != nil {
					return // Upgrade has answered 403
				}
				_ = c.Close()
			}))
			t.Cleanup(ts.Close)

			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", strings.ReplaceAll(tt.origin, "{self}", ts.URL))
			}
			if tt.host != "" {
				h.Set("Host", tt.host)
			}
			c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http"), h)
			if c != nil {
				_ = c.Close()
			}
			if got := err == nil; got != tt.want {
				t.Fatalf("handshake succeeded = %v (err %v), want %v", got, err, tt.want)
			}
			if !tt.want && (resp == nil || resp.StatusCode != http.StatusForbidden) {
				t.Fatalf("refused handshake answered %v, want 403", resp)
			}
		})
	}
}
