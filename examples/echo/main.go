// Command echo is a minimal Sockline program: a chi router serving a SockJS
// echo service at /echo and, at /, a page that talks to it with
// sockjs-client.
//
//	go run ./examples/echo -addr 127.0.0.1:8080 [-allow-origin https://other.example]...
//
// It keeps the safe defaults: only same-origin pages may connect, unless
// origins are added with -allow-origin (repeatable).
package main

import (
	"context"
	"flag"
	"html/template"
	"log"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/sockline/sockline/examples/internal/run"
	"github.com/sockline/sockline/sockjs"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	sockjsURL := flag.String("sockjs-url", sockjs.DefaultSockJSURL, "sockjs-client URL the page loads")
	var allowed run.Origins
	flag.Var(&allowed, "allow-origin", "an origin besides the server's own allowed to connect, e.g. https://app.example.com (repeatable)")
	flag.Parse()

	opts := sockjs.Options{
		AllowedOrigins: allowed,
		SockJSURL:      *sockjsURL,
	}
	echo := sockjs.NewHandler(opts, func(ctx context.Context, s *sockjs.Session) {
		for {
			msg, err := s.Recv(ctx)
			if err != nil {
				return // the session is over: err tells why
			}
			if err := s.Send(msg); err != nil {
				return
			}
		}
	})

	r := chi.NewRouter()
	r.Mount("/echo", echo)
	// The page loads the build the iframe page loads, with its integrity
	// hash when one is known (the default URL's is).
	var sockjsClient script
	sockjsClient.URL, sockjsClient.Integrity = opts.SockJSScript()
	r.Get("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = page.Execute(w, sockjsClient)
	})

	log.Printf("echo demo on http://%s/", *addr)
	run.Serve(*addr, r, echo.Shutdown)
}

// script is a script's URL and Subresource Integrity hash ("" for none).
type script struct{ URL, Integrity string }

// page is the echo page; it takes the sockjs-client script.
var page = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Sockline echo</title>
<script src="{{.URL}}"{{with .Integrity}} integrity="{{.}}" crossorigin="anonymous"{{end}}></script>
<style>body{font:16px sans-serif;max-width:40em;margin:2em auto}#log{border:1px solid #ccc;height:20em;overflow:auto;padding:.5em}</style>
</head><body>
<h1>Sockline echo</h1>
<div id="log"></div>
<form id="f"><input id="msg" autocomplete="off" autofocus size="40"> <button>Send</button></form>
<script>
  var log = document.getElementById('log');
  function print(text) { var p = document.createElement('div'); p.textContent = text; log.appendChild(p); log.scrollTop = log.scrollHeight; }
  var sock = new SockJS('/echo');
  sock.onopen = function () { print('[open: ' + sock.transport + ']'); };
  sock.onmessage = function (e) { print('< ' + e.data); };
  sock.onclose = function (e) { print('[closed: ' + e.code + ' ' + e.reason + ']'); };
  document.getElementById('f').onsubmit = function (e) {
    e.preventDefault();
    var input = document.getElementById('msg');
    sock.send(input.value); print('> ' + input.value); input.value = '';
  };
</script>
</body></html>
`))
