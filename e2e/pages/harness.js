/* In-page helpers for the Sockline e2e suite. Loaded by index.html, and
 * injected (as source) into the SockJS server's own iframe.html for the
 * same-origin htmlfile run. Every wait has a deadline. */
(function () {
  'use strict';
  if (window.E2E) return;

  var DEFAULT_MS = 15000;
  var socks = {};
  var nextId = 1;
  var pwnSignals = [];
  var pageErrors = [];

  // an uncaught error in this page (e.g. sockjs-client failing to decode a
  // frame) ends every wait at once, with the error, instead of at its deadline
  window.addEventListener('error', function (e) {
    pageErrors.push(String(e.error && e.error.stack ? e.error.stack : e.message));
    Object.keys(socks).forEach(function (k) { notify(socks[k]); });
  });

  // markup payloads that manage to run post "E2E-PWNED" to the top page
  window.addEventListener('message', function (e) {
    if (e.data === 'E2E-PWNED') {
      pwnSignals.push(e.origin);
      Object.keys(socks).forEach(function (k) { notify(socks[k]); });
    }
  });

  function describe(rec) {
    var s = rec.sock;
    return 'readyState=' + (s ? s.readyState : '?') +
      ' transport=' + rec.transport +
      ' received=' + rec.received.length +
      ' closed=' + (rec.closed ? JSON.stringify(rec.closed) : 'no');
  }

  function notify(rec) {
    rec.waiters.slice().forEach(function (w) { w(); });
  }

  // Resolves when pred() is true; rejects at the deadline, or at once when
  // the socket closed and pred can no longer become true (failOnClose).
  function waitFor(rec, pred, ms, what, failOnClose) {
    var errorsBefore = pageErrors.length;
    return new Promise(function (resolve, reject) {
      var timer;
      function done(err, v) {
        clearTimeout(timer);
        rec.waiters.splice(rec.waiters.indexOf(check), 1);
        if (err) reject(err); else resolve(v);
      }
      function check() {
        var v;
        try { v = pred(); } catch (e) { return done(e); }
        if (v) return done(null, v);
        if (pageErrors.length > errorsBefore) {
          return done(new Error(what + ': uncaught error in the page: ' + pageErrors[errorsBefore] +
            ' (' + describe(rec) + ')'));
        }
        if (failOnClose && rec.closed) {
          return done(new Error(what + ': socket closed while waiting (' + describe(rec) + ')'));
        }
        if ((window.__pwned || pwnSignals.length) && rec.failOnPwned) {
          return done(new Error(what + ': a message ran as script (window.__pwned=' + window.__pwned +
            ', signals from frames: ' + JSON.stringify(pwnSignals) + ')'));
        }
      }
      rec.waiters.push(check);
      timer = setTimeout(function () {
        done(new Error(what + ': deadline of ' + ms + ' ms passed (' + describe(rec) + ')'));
      }, ms);
      check();
    });
  }

  function get(id) {
    var rec = socks[id];
    if (!rec) throw new Error('no socket ' + id);
    return rec;
  }

  var E2E = {};

  /** Opens a SockJS connection; resolves {id, transport} on open. */
  E2E.connect = function (url, transports, ms) {
    ms = ms || DEFAULT_MS;
    var id = nextId++;
    var rec = {
      id: id, url: url, sock: null, transport: null, received: [], events: [],
      closed: null, opened: false, waiters: [], failOnPwned: false,
    };
    socks[id] = rec;
    // A forced transport gets a 5 s open timeout rather than sockjs-client's
    // own (its RTO, 300 ms + the /info round trip, times the transport's
    // round trips): with no fallback, a busy CI box missing that would fail
    // a scenario that tests the transport, not the timeout. Fallback runs
    // (transports null) and the time-to-first-message test keep the defaults.
    var opts = transports ? { transports: transports, timeout: 5000 } : {};
    var sock = new SockJS(url, null, opts);
    rec.sock = sock;
    sock.onopen = function () {
      rec.opened = true;
      rec.transport = sock.transport;
      rec.events.push('open');
      notify(rec);
    };
    sock.onmessage = function (e) {
      rec.received.push(e.data);
      notify(rec);
    };
    sock.onclose = function (e) {
      rec.closed = { code: e.code, reason: e.reason, wasClean: e.wasClean, afterOpen: rec.opened };
      rec.events.push('close');
      notify(rec);
    };
    return waitFor(rec, function () { return rec.opened; }, ms, 'open ' + url, true)
      .then(function () { return { id: id, transport: rec.transport }; });
  };

  /** Sends the messages and waits for as many to come back; compares exactly. */
  E2E.roundTrip = function (id, messages, ms, opts) {
    ms = ms || DEFAULT_MS;
    opts = opts || {};
    var rec = get(id);
    rec.failOnPwned = !!opts.failOnPwned;
    var start = rec.received.length;
    var t0 = Date.now();
    for (var i = 0; i < messages.length; i++) rec.sock.send(messages[i]);
    return waitFor(rec, function () { return rec.received.length >= start + messages.length; },
      ms, 'round trip of ' + messages.length + ' message(s)', true)
      .then(function () {
        var got = rec.received.slice(start, start + messages.length);
        var mismatches = [];
        for (var k = 0; k < messages.length && mismatches.length < 10; k++) {
          if (got[k] !== messages[k]) mismatches.push(E2E.diff(messages[k], got[k], k));
        }
        return {
          sent: messages.length,
          received: got.length,
          mismatches: mismatches,
          ms: Date.now() - t0,
        };
      });
  };

  /** Where two strings differ: indexes of differing UTF-16 code units (max 20). */
  E2E.diff = function (want, got, messageIndex) {
    var out = {
      message: messageIndex,
      wantLength: want.length,
      gotLength: typeof got === 'string' ? got.length : null,
      gotType: typeof got,
      differingIndexes: [],
    };
    if (typeof got !== 'string') return out;
    var n = Math.max(want.length, got.length);
    for (var i = 0; i < n && out.differingIndexes.length < 20; i++) {
      if (want.charCodeAt(i) !== got.charCodeAt(i)) {
        out.differingIndexes.push({
          index: i,
          want: isNaN(want.charCodeAt(i)) ? null : 'U+' + want.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0'),
          got: isNaN(got.charCodeAt(i)) ? null : 'U+' + got.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0'),
        });
      }
    }
    return out;
  };

  /** Sends and waits for n messages matching pred (for broadcast/amplify/ticker). */
  E2E.waitMessages = function (id, count, ms) {
    var rec = get(id);
    return waitFor(rec, function () { return rec.received.length >= count; },
      ms || DEFAULT_MS, 'waiting for ' + count + ' message(s)', true)
      .then(function () { return rec.received.slice(); });
  };

  E2E.send = function (id, msg) { get(id).sock.send(msg); };

  E2E.received = function (id) { return get(id).received.slice(); };

  /** Closes from the client side. */
  E2E.close = function (id, code, reason) {
    var rec = get(id);
    if (code === undefined) rec.sock.close(); else rec.sock.close(code, reason);
  };

  /** Waits for onclose; resolves {code, reason, wasClean, afterOpen}. */
  E2E.waitClose = function (id, ms) {
    var rec = get(id);
    return waitFor(rec, function () { return rec.closed; }, ms || DEFAULT_MS, 'close', false);
  };

  /** Counts the heartbeat frames the socket gets from now on; read them with E2E.heartbeats(id). */
  E2E.countHeartbeats = function (id) {
    var rec = get(id);
    rec.heartbeats = 0;
    rec.sock.addEventListener('heartbeat', function () { rec.heartbeats++; });
  };
  E2E.heartbeats = function (id) { return get(id).heartbeats || 0; };

  /**
   * Time to first message: from new SockJS to onopen, and to the echo of a
   * message sent on open (ms, performance.now()); and the transport used.
   */
  E2E.firstMessage = function (url, transports, ms) {
    return new Promise(function (resolve, reject) {
      var t0 = performance.now();
      var tOpen = null;
      // A forced transport gets the 5 s open timeout open() gives it (see
      // there): on a loaded box sockjs-client's own, from the /info round
      // trip, once failed an iframe transport through nginx. Fallback runs
      // keep sockjs-client's timeouts: they measure its walk down the list.
      var sock = new SockJS(url, null, transports ? { transports: transports, timeout: 5000 } : {});
      var timer = setTimeout(function () { reject(new Error('no first message within ' + ms + ' ms')); }, ms);
      sock.onopen = function () { tOpen = performance.now(); sock.send('first'); };
      sock.onmessage = function () {
        clearTimeout(timer);
        var r = { transport: sock.transport, openMs: Math.round(tOpen - t0), firstMessageMs: Math.round(performance.now() - t0) };
        sock.close();
        resolve(r);
      };
      sock.onclose = function (e) {
        if (tOpen === null) { clearTimeout(timer); reject(new Error('closed before open: ' + e.code + ' ' + e.reason)); }
      };
    });
  };

  /** Origins of frames whose markup payload ran (posted "E2E-PWNED"). */
  E2E.pwnSignals = function () { return pwnSignals.slice(); };

  E2E.state = function (id) {
    var rec = get(id);
    return {
      readyState: rec.sock.readyState, transport: rec.transport, received: rec.received.length,
      closed: rec.closed, events: rec.events.slice(),
    };
  };

  // ---- message generators -------------------------------------------------

  E2E.make = {};

  /** Every code point SockJS treats specially, plus astral emoji. */
  E2E.make.specialChars = function () {
    var cps = [];
    var i;
    for (i = 0x00; i <= 0x1f; i++) cps.push(i);
    cps.push(0x22, 0x25, 0x26, 0x27, 0x2f, 0x3c, 0x3e, 0x5c, 0x7f); // " % & ' / < > \ DEL
    for (i = 0x80; i <= 0x9f; i++) cps.push(i);                     // C1 controls
    cps.push(0xad, 0x0600, 0x070f, 0x17b4, 0x17b5);
    for (i = 0x200b; i <= 0x200f; i++) cps.push(i);                  // incl. U+200C-U+200F
    cps.push(0x2028, 0x2029);
    for (i = 0x202a; i <= 0x202f; i++) cps.push(i);
    for (i = 0x2060; i <= 0x206f; i++) cps.push(i);
    cps.push(0xd7ff, 0xe000, 0xfeff);
    for (i = 0xfff0; i <= 0xffff; i++) cps.push(i);
    // astral: emoji, a ZWJ family, a flag, musical G clef, the last code point
    cps.push(0x1f600, 0x1f984, 0x1f468, 0x200d, 0x1f469, 0x200d, 0x1f467, 0x1f1fa, 0x1f1e6,
      0x1d11e, 0x10000, 0x10ffff);
    return String.fromCodePoint.apply(null, cps);
  };

  /** Markup and script-breaking payloads; none may ever run. */
  E2E.make.markup = function () {
    // sets __pwned in its own frame and its parent, and tells the top page
    // (which may be cross-origin) by postMessage, and logs to the console
    // (no double quotes or backslashes: those get escaped, twice, on the way)
    var run = "window.__pwned=1;try{parent.__pwned=1}catch(e){};" +
      "try{top.postMessage('E2E-PWNED','*')}catch(e){};console.log('E2E-PWNED')";
    return [
      '</script><script>' + run + '</script>',
      '</script>',
      '<!--',
      '-->',
      '<script>' + run + '</script>',
      '</SCRIPT ><script>' + run + '</script><!--',
      '<!--<script>',
      '"); ' + run + '; ("',
      "'); " + run + "; ('",
      '"]); ' + run + '; (["',
      '\\"); ' + run + '; //',
      '*/ ' + run + ' /*',
      '\u2028' + run + '\u2029',
      '<img src=x onerror="' + run + '">',
      '<svg onload="' + run + '">',
      ']]><![CDATA[',
      'c[3000,"spoofed close"]',
      'a["spoofed"]',
      'o',
      'h',
      '\r\ndata: spoofed\r\n\r\n',
      'data: x\n\nevent: close\n\n',
      '100% %25 %0A %zz %',
      '&lt;script&gt; &amp; &#60;',
      '<!DOCTYPE html><html><body>',
      '</body></html>',
      '</script><!--<script></script>' + run,
    ];
  };

  /** A big message with varied ASCII content (so a diff can locate damage). */
  E2E.make.big = function (size) {
    var parts = [];
    for (var i = 0; i < size; i++) parts.push(String.fromCharCode(32 + ((i * 7919 + (i >> 10)) % 95)));
    return parts.join('');
  };

  E2E.make.burst = function (n) {
    var out = [];
    for (var i = 0; i < n; i++) out.push('burst-' + i + '-' + 'abcdefghij'.slice(0, i % 11));
    return out;
  };

  window.E2E = E2E;
})();
