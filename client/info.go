package client

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// info is the answer of GET {base}/info.
type info struct {
	WebSocket    bool `json:"websocket"`
	CookieNeeded bool `json:"cookie_needed"`
}

// fetchInfo reads /info and measures its round trip.
func fetchInfo(ctx context.Context, hc *http.Client, base, query string, header http.Header) (info, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, withQuery(base+"/info", query), nil)
	if err != nil {
		return info{}, 0, err
	}
	addHeader(req, header)
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return info{}, 0, hideURLQuery(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	rtt := time.Since(start)
	if err != nil {
		return info{}, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return info{}, 0, fmt.Errorf("GET /info answered %s%s; is %s a SockJS endpoint?", resp.Status, quoteBody(body), base)
	}
	// websocket defaults to true: old servers leave it out.
	in := info{WebSocket: true}
	if err := json.Unmarshal(body, &in); err != nil {
		return info{}, 0, fmt.Errorf("GET /info: not SockJS info JSON: %w", err)
	}
	return in, rtt, nil
}

// addHeader copies h into the request's headers.
func addHeader(req *http.Request, h http.Header) {
	for k, vs := range h {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
}

// parseBase checks a SockJS endpoint URL as sockjs-client does (http or
// https, a host, no fragment) and returns it without trailing slashes or
// query, and its query apart: sockjs-client keeps the query on every
// request (/info and every session URL), after the path it adds.
func parseBase(raw string) (base, query string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("client: bad URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", "", fmt.Errorf("client: URL %q must be http or https (websocket URLs are derived from it)", raw)
	}
	if u.Host == "" || u.Fragment != "" {
		return "", "", fmt.Errorf("client: URL %q needs a host and no fragment", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	query = u.RawQuery
	u.RawQuery, u.ForceQuery = "", false
	return u.String(), query, nil
}

// withQuery returns u with the endpoint's query, if any, appended.
func withQuery(u, query string) string {
	if query == "" {
		return u
	}
	return u + "?" + query
}

// hideQuery returns u with its query, which may hold a token, elided for
// an error message.
func hideQuery(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + "?..."
	}
	return u
}

// hideURLQuery elides the query of the URL in an error of http.Client.Do.
func hideURLQuery(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = hideQuery(ue.URL)
	}
	return err
}

// sessionIDChars is sockjs-client's alphabet for session ids: 32
// characters, so a random byte modulo 32 is unbiased.
const sessionIDChars = "abcdefghijklmnopqrstuvwxyz012345"

// newSessionID returns 8 random characters, as sockjs-client's default.
func newSessionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	for i := range b {
		b[i] = sessionIDChars[b[i]%32]
	}
	return string(b[:])
}

// newServerID returns a random number below 1000 as three digits, as
// sockjs-client does.
func newServerID() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1000))
	return fmt.Sprintf("%03d", n.Int64())
}
