package sockjs_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sockline/sockline/sockjs"
)

// Options.CheckOrigin lets in origins the lists refuse, on the HTTP
// transports and the websocket handshake; what both refuse gets 403 and is
// reported to Events.
func TestCheckOrigin(t *testing.T) {
	t.Parallel()
	ev := &countingEvents{}
	srv := appServer(t, sockjs.Options{
		Events:         ev,
		AllowedOrigins: []string{"https://listed.example"},
		CheckOrigin: func(r *http.Request) bool {
			return strings.HasSuffix(r.Header.Get("Origin"), ".tenants.example")
		},
	}, func(ctx context.Context, s *sockjs.Session) { <-ctx.Done() })
	tests := []struct {
		origin  string
		allowed bool
	}{
		{"https://listed.example", true},
		{"https://a.tenants.example", true},
		{"https://evil.example", false},
	}
	refused := 0
	for _, tt := range tests {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/x/0/"+newSID()+"/xhr", nil)
		req.Header.Set("Origin", tt.origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		acao := resp.Header.Get("Access-Control-Allow-Origin")
		if tt.allowed && (resp.StatusCode != http.StatusOK || acao != tt.origin) {
			t.Errorf("xhr from %s: %d, Access-Control-Allow-Origin %q; want 200 and the origin", tt.origin, resp.StatusCode, acao)
		}
		if !tt.allowed && resp.StatusCode != http.StatusForbidden {
			t.Errorf("xhr from %s: %d, want 403", tt.origin, resp.StatusCode)
		}
		d := websocket.Dialer{HandshakeTimeout: scenarioWait}
		conn, wresp, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/x/0/"+newSID()+"/websocket", http.Header{"Origin": {tt.origin}})
		if err == nil {
			conn.Close()
		}
		if got := err == nil; got != tt.allowed {
			status := 0
			if wresp != nil {
				status = wresp.StatusCode
			}
			t.Errorf("websocket from %s: accepted %v (status %d), want %v", tt.origin, got, status, tt.allowed)
		}
		if !tt.allowed {
			refused += 2
		}
	}
	deadline := time.Now().Add(scenarioWait)
	for ev.get("origin refused") < refused && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := ev.get("origin refused"); got != refused {
		t.Errorf("Events.OriginRefused told %d times, want %d", got, refused)
	}
}
