package main

import "html/template"

// script is a script's URL and Subresource Integrity hash ("" for none).
type script struct{ URL, Integrity string }

// page is the chat page; it takes the sockjs-client script. Messages are
// put on the page with textContent, never as HTML.
var page = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Sockline chat</title>
<script src="{{.URL}}"{{with .Integrity}} integrity="{{.}}" crossorigin="anonymous"{{end}}></script>
<style>
 body{font:15px sans-serif;max-width:44em;margin:2em auto}
 #log{border:1px solid #ccc;height:22em;overflow:auto;padding:.5em}
 .notice{color:#777}.who{font-weight:bold}.tr{color:#36c;font-size:80%}
</style>
</head><body>
<h1>Sockline chat</h1>
<p id="status">connecting…</p>
<p id="online"></p>
<div id="log"></div>
<form id="f"><input id="msg" autocomplete="off" size="50" disabled> <button id="send" disabled>Send</button></form>
<script>
(function () {
  var params = new URLSearchParams(location.search);
  var server = params.get('server') || (location.origin + '/chat');
  var transport = params.get('transport');
  var name = params.get('name') || '';
  var log = document.getElementById('log');
  var status = document.getElementById('status');
  window.chatEvents = [];
  function line(cls, parts) {
    var div = document.createElement('div');
    div.className = cls;
    parts.forEach(function (p) {
      var span = document.createElement('span');
      span.className = p[0]; span.textContent = p[1];
      div.appendChild(span);
    });
    log.appendChild(div); log.scrollTop = log.scrollHeight;
  }
  var me = null, lastPos = null, sock = null;
  // A connection that ends other than by close() comes back after a second
  // with the position of the last event, and gets the ones it missed.
  function connect() {
    sock = new SockJS(server, null, transport ? {transports: [transport]} : {});
    window.chatSocket = sock;
    sock.onopen = function () {
      sock.send(lastPos ? JSON.stringify({name: me, since: lastPos}) : name);
      status.textContent = 'connected with ' + sock.transport;
      document.getElementById('msg').disabled = false;
      document.getElementById('send').disabled = false;
    };
    sock.onmessage = onEvent;
    sock.onclose = function (e) {
      status.textContent = 'closed: ' + e.code + ' ' + e.reason;
      if (e.code !== 1000 && me !== null) setTimeout(connect, 1000);
    };
  }
  var online = [];
  function showOnline() {
    document.getElementById('online').textContent = 'online: ' +
      online.map(function (u) { return u.user + ' [' + u.transport + ']'; }).join(', ');
  }
  function onEvent(m) {
    var e = JSON.parse(m.data);
    if (e.pos) { lastPos = e.pos; delete e.pos; }
    window.chatEvents.push(e);
    var tr = ' [' + e.transport + ']';
    if (e.type === 'welcome') {
      me = e.user;
      status.textContent = 'you are ' + e.user + ' on ' + e.transport;
      online = (e.users || []).slice();
      if (e.recovered === false) line('notice', [['', 'some messages were missed while disconnected']]);
    }
    if (e.type === 'join') online.push({user: e.user, transport: e.transport});
    if (e.type === 'leave') {
      for (var i = 0; i < online.length; i++) {
        if (online[i].user === e.user && online[i].transport === e.transport) { online.splice(i, 1); break; }
      }
    }
    showOnline();
    if (e.type === 'join') line('notice', [['who', e.user], ['tr', tr], ['', ' joined']]);
    if (e.type === 'leave') line('notice', [['who', e.user], ['tr', tr], ['', ' left']]);
    if (e.type === 'message') line('msg', [['who', e.user], ['tr', tr], ['', ': ' + e.text]]);
  }
  connect();
  document.getElementById('f').onsubmit = function (ev) {
    ev.preventDefault();
    var input = document.getElementById('msg');
    if (input.value) sock.send(input.value);
    input.value = '';
  };
})();
</script>
</body></html>
`))
