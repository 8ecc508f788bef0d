package sockjs_test

import (
	"net/http"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/sockline/sockline/examples/testserver/services"
	"github.com/sockline/sockline/sockjs"
)

// The handler works under any prefix, however it is mounted: chi's Mount
// (which leaves r.URL.Path whole and advances the route context), an
// http.ServeMux with http.StripPrefix, and an http.ServeMux without it,
// with Options.Prefix. Each is checked with the greeting (R-GREET-1), /info
// (R-INFO-1), an xhr session (R-PROTO-1) and a few 404s.
//
// On a ServeMux the pattern "/echo/" alone answers a bare "GET /echo" with
// a redirect to "/echo/" (307), while R-GREET-1 wants the greeting there:
// register the exact pattern "/echo" as well.
func TestProtocolMounting(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		prefix string // where the service ends up
		opts   sockjs.Options
		mount  func(h *sockjs.Handler) http.Handler
	}{
		{"chi Mount", "/echo", sockjs.Options{}, func(h *sockjs.Handler) http.Handler {
			r := chi.NewRouter()
			r.Mount("/echo", h)
			return r
		}},
		{"chi nested Route and Mount", "/api/v1/echo", sockjs.Options{}, func(h *sockjs.Handler) http.Handler {
			r := chi.NewRouter()
			r.Route("/api", func(r chi.Router) {
				r.Route("/v1", func(r chi.Router) { r.Mount("/echo", h) })
			})
			return r
		}},
		{"ServeMux with StripPrefix", "/echo", sockjs.Options{}, func(h *sockjs.Handler) http.Handler {
			mux := http.NewServeMux()
			mux.Handle("/echo/", http.StripPrefix("/echo", h))
			mux.Handle("/echo", http.StripPrefix("/echo", h))
			return mux
		}},
		{"ServeMux with Options.Prefix", "/echo", sockjs.Options{Prefix: "/echo"}, func(h *sockjs.Handler) http.Handler {
			mux := http.NewServeMux()
			mux.Handle("/echo/", h)
			mux.Handle("/echo", h)
			return mux
		}},
		{"Options.Prefix on a catch-all", "/deep/echo", sockjs.Options{Prefix: "/deep/echo"}, func(h *sockjs.Handler) http.Handler {
			mux := http.NewServeMux()
			mux.Handle("/", h)
			return mux
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := sockjs.NewHandler(tc.opts, services.Echo)
			srv := startServer(t, tc.mount(h), h)
			f := &fixture{srv: srv, addr: srv.Listener.Addr().String(), echo: h}
			p := tc.prefix

			for _, path := range []string{p, p + "/"} {
				r := f.get(t, path)
				expectBody(t, r, http.StatusOK, greetingBody)
				expectContentType(t, r, "text/plain;charset=UTF-8")
			}
			r := f.get(t, p+"/info")
			expectStatus(t, r, http.StatusOK)
			expectContentType(t, r, "application/json;charset=UTF-8")
			if m := infoBody(t, r); m["websocket"] != true {
				t.Fatalf("/info websocket = %#v", m["websocket"])
			}

			base := sessionBase(p)
			expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "o\n")
			expectBody(t, f.post(t, base+"/xhr_send", `["a"]`), http.StatusNoContent, "")
			expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "a[\"a\"]\n")

			for _, path := range []string{p + "/a", p + "/a/a", p + "/a./a/xhr", p + "/a/a/nope"} {
				expect404(t, f.get(t, path))
			}
			if tc.opts.Prefix != "" {
				expect404(t, f.get(t, p+"x/info")) // not under the prefix
			}
		})
	}
}
