package main

import (
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/sockline/sockline/sockjs"
)

// The page loads the default sockjs-client and the CDN's @stomp/stompjs
// with their integrity hashes; a local bundle and a sockjs-client URL of
// the application's without a hash get none.
func TestPageSRI(t *testing.T) {
	t.Parallel()
	tag := regexp.MustCompile(`<script src="([^"]*)"(?: integrity="([^"]*)" crossorigin="anonymous")?></script>`)
	bundle := filepath.Join(t.TempDir(), "stomp.umd.min.js")
	if err := writeFile(bundle, "/* stompjs */"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		o    sockjs.Options
		file string
		want [][2]string // src and integrity of each script tag with a src
	}{
		{sockjs.Options{}, "", [][2]string{{sockjs.DefaultSockJSURL, sockjs.DefaultSockJSIntegrity}, {stompjsCDN, stompjsCDNIntegrity}}},
		{sockjs.Options{}, bundle, [][2]string{{sockjs.DefaultSockJSURL, sockjs.DefaultSockJSIntegrity}, {"/stomp.umd.min.js", ""}}},
		{sockjs.Options{SockJSURL: "/sockjs.js"}, "", [][2]string{{"/sockjs.js", ""}, {stompjsCDN, stompjsCDNIntegrity}}},
	} {
		ch := newChat(c.o, c.file)
		srv := httptest.NewServer(ch.router)
		body := get(t, srv.URL+"/")
		srv.Close()
		if err := ch.shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		m := tag.FindAllStringSubmatch(body, -1)
		if len(m) != len(c.want) {
			t.Fatalf("%+v, %q: script tags %q; want %q", c.o, c.file, m, c.want)
		}
		for i, w := range c.want {
			if html.UnescapeString(m[i][1]) != w[0] || html.UnescapeString(m[i][2]) != w[1] {
				t.Fatalf("%+v, %q: script tags %q; want %q", c.o, c.file, m, c.want)
			}
		}
	}
}

// stompjsCDNIntegrity is the hash of the file stompjsCDN names: the npm
// package's as published (what jsDelivr serves), which is node_modules'
// copy when package.json pins the same version (npm ci checks it against
// package-lock.json). A version bump without a hash bump fails here.
func TestStompjsCDNIntegrity(t *testing.T) {
	m := regexp.MustCompile(`^https://cdn\.jsdelivr\.net/npm/@stomp/stompjs@([0-9]+\.[0-9]+\.[0-9]+)/(bundles/[a-z.]+\.js)$`).FindStringSubmatch(stompjsCDN)
	if m == nil {
		t.Fatalf("stompjsCDN %q is not a jsDelivr npm URL of @stomp/stompjs with an exact version; check its hash another way and update this test", stompjsCDN)
	}
	version, file := m[1], m[2]
	root := filepath.Join("..", "..")
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	readJSON(t, filepath.Join(root, "package.json"), &pkg)
	if got := pkg.DevDependencies["@stomp/stompjs"]; got != version {
		t.Fatalf("package.json pins @stomp/stompjs %q; stompjsCDN names %s: keep them the same version", got, version)
	}
	dir := filepath.Join(root, "node_modules", "@stomp", "stompjs")
	if _, err := os.Stat(filepath.Join(dir, "package.json")); errors.Is(err, os.ErrNotExist) {
		if os.Getenv("CI") != "" {
			t.Fatalf("no %s: CI runs npm ci before the Go tests", dir)
		}
		t.Skipf("no %s: run npm ci to check stompjsCDNIntegrity against the package", dir)
	}
	var installed struct{ Version string }
	readJSON(t, filepath.Join(dir, "package.json"), &installed)
	if installed.Version != version {
		t.Fatalf("node_modules has @stomp/stompjs %s, not %s: run npm ci", installed.Version, version)
	}
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(file)))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha512.Sum384(b)
	if want := "sha384-" + base64.StdEncoding.EncodeToString(sum[:]); stompjsCDNIntegrity != want {
		t.Fatalf("stompjsCDNIntegrity = %q; @stomp/stompjs@%s/%s hashes to %q", stompjsCDNIntegrity, version, file, want)
	}
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}
