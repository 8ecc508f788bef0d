package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/sockline/sockline/internal/frame"
)

// frameKind is the first byte of a SockJS frame.
type frameKind byte

const (
	frameOpen      frameKind = 'o'
	frameHeartbeat frameKind = 'h'
	frameMessages  frameKind = 'a'
	frameClose     frameKind = 'c'
)

// parsedFrame is one frame from the server.
type parsedFrame struct {
	kind   frameKind
	msgs   []string // frameMessages
	code   int      // frameClose
	reason string   // frameClose
}

// errBadFrame is wrapped by every parse failure.
var errBadFrame = errors.New("malformed frame")

// parseFrame decodes one frame without its transport envelope. As
// sockjs-client does, only the first byte of "o" and "h" frames counts (an
// xhr-streaming prelude is a line of 2048 "h"), and "a" and "c" must carry
// a well-formed payload.
func parseFrame(b []byte) (parsedFrame, error) {
	if len(b) == 0 {
		return parsedFrame{}, fmt.Errorf("%w: empty", errBadFrame)
	}
	f := parsedFrame{kind: frameKind(b[0])}
	switch f.kind {
	case frameOpen, frameHeartbeat:
		return f, nil
	case frameMessages:
		msgs, err := frame.DecodeMessages(b[1:])
		if err != nil || bytes.TrimSpace(b[1:])[0] != '[' {
			return parsedFrame{}, fmt.Errorf("%w: bad message array %.40q", errBadFrame, b)
		}
		f.msgs = msgs
		return f, nil
	case frameClose:
		var v []json.RawMessage
		if err := json.Unmarshal(b[1:], &v); err != nil || len(v) != 2 {
			return parsedFrame{}, fmt.Errorf("%w: bad close frame %.40q", errBadFrame, b)
		}
		var code float64
		if err := json.Unmarshal(v[0], &code); err != nil || code != math.Trunc(code) || code < 0 || code > 1<<31-1 {
			return parsedFrame{}, fmt.Errorf("%w: bad close code %.40q", errBadFrame, b)
		}
		if err := json.Unmarshal(v[1], &f.reason); err != nil {
			return parsedFrame{}, fmt.Errorf("%w: bad close reason %.40q", errBadFrame, b)
		}
		f.code = int(code)
		return f, nil
	}
	return parsedFrame{}, fmt.Errorf("%w: unknown frame type %q", errBadFrame, b[0])
}

// appendBatch appends the JSON array of already quoted messages that
// xhr_send and the websocket take.
func appendBatch(dst []byte, quoted [][]byte) []byte {
	dst = append(dst, '[')
	for i, q := range quoted {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, q...)
	}
	return append(dst, ']')
}

// quote encodes one message as sockjs-client does: a JSON string with the
// code points browsers and proxies mangle \u-escaped.
func quote(msg string) []byte { return frame.Quote(msg) }
