package transports

import (
	"bytes"
	"mime"
	"net/url"
	"strings"
	"testing"
)

func TestJSONPPayload(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		ct, body, want string
		err            bool
	}{
		{form, `d=%5B%22x%22%5D`, `["x"]`, false},
		{form, `d=%5B%22x`, `["x`, false}, // broken JSON is the decoder's to find
		{form, ``, ``, false},
		{form, `d=`, ``, false},
		{form, `p=p`, ``, false},
		{form, `p=p&d=%5B%22b%22%5D&d=second`, `["b"]`, false},
		{form, `%64=%22k%22`, `"k"`, false},           // the key is URL-decoded too
		{form, `d=%5B%22a+b%22%5D`, `["a b"]`, false}, // '+' is a space
		{form, `x=%zz&d=%22ok%22`, `"ok"`, false},     // other fields may be malformed
		{form, `d=%zz`, ``, true},                     // d itself may not
		{form + "; charset=UTF-8", `d=%22x%22`, `"x"`, false},
		{"Application/X-WWW-Form-URLEncoded", `d=%22x%22`, `"x"`, false},
		{"text/plain", `["%61bc"]`, `["%61bc"]`, false}, // raw: never URL-decoded
		{"", `d=%22x%22`, `d=%22x%22`, false},
		{"application/json", `["a"]`, `["a"]`, false},
	}
	for _, tt := range tests {
		got, err := jsonpPayload(tt.ct, []byte(tt.body))
		if (err != nil) != tt.err || string(got) != tt.want {
			t.Errorf("jsonpPayload(%q, %q) = %q, %v; want %q (error %v)", tt.ct, tt.body, got, err, tt.want, tt.err)
		}
	}
}

// FuzzJSONPSendBody checks the jsonp_send body parser against its
// documented rule: it never panics; a body that is not a form comes back
// exactly as sent; a form body gives the first d field, URL-decoded, as
// net/url parses forms, or nothing when there is no d field.
func FuzzJSONPSendBody(f *testing.F) {
	const form = "application/x-www-form-urlencoded"
	for _, s := range []string{`d=%5B%22x%22%5D`, `d=%5B%22x`, ``, `d=`, `p=p`, `d=%zz`, `a&&d=1&d=2`, `d;x=1`, `%64=x`, `["%61bc"]`} {
		f.Add(form, []byte(s))
		f.Add("text/plain", []byte(s))
	}
	f.Add(form+"; charset=utf-8", []byte(`d=1`))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		orig := bytes.Clone(body)
		got, err := jsonpPayload(ct, body)
		if !bytes.Equal(body, orig) {
			t.Fatalf("the body was changed")
		}
		mt, _, mtErr := mime.ParseMediaType(ct)
		isFormType := isForm(ct)
		if mtErr == nil && (mt == form) != isFormType {
			t.Fatalf("isForm(%q) = %v; media type %q", ct, isFormType, mt)
		}
		if !isFormType {
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("raw body %q gave %q, %v; want it unchanged", body, got, err)
			}
			return
		}
		vals, qErr := url.ParseQuery(string(body))
		if qErr != nil {
			// net/url refuses the whole form (a malformed field, or ';');
			// our rule only looks at d fields. Whatever comes out must be
			// the decoded value of some d field.
			if err == nil && len(got) > 0 && !hasField(body, string(got)) {
				t.Fatalf("form %q gave %q, which no d field holds", body, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("form %q: %v; net/url parses it", body, err)
		}
		if want := vals.Get("d"); string(got) != want {
			t.Fatalf("form %q gave %q; want %q", body, got, want)
		}
	})
}

func hasField(body []byte, value string) bool {
	for field := range strings.SplitSeq(string(body), "&") {
		k, v, _ := strings.Cut(field, "=")
		dk, err1 := url.QueryUnescape(k)
		dv, err2 := url.QueryUnescape(v)
		if err1 == nil && err2 == nil && dk == "d" && dv == value {
			return true
		}
	}
	return false
}
