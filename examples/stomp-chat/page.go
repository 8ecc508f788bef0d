package main

import "html/template"

// pageData holds the script URLs and their Subresource Integrity hashes
// ("" for none).
type pageData struct{ SockJS, SockJSIntegrity, StompJS, StompJSIntegrity string }

// page is the chat page. Everything from the network is put on the page with
// textContent, never as HTML. window.chatLog records what was shown, for
// tests.
var page = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Sockline STOMP chat</title>
<script src="{{.SockJS}}"{{with .SockJSIntegrity}} integrity="{{.}}" crossorigin="anonymous"{{end}}></script>
<script src="{{.StompJS}}"{{with .StompJSIntegrity}} integrity="{{.}}" crossorigin="anonymous"{{end}}></script>
<style>
 body{font:15px sans-serif;max-width:44em;margin:2em auto}
 #log{border:1px solid #ccc;height:22em;overflow:auto;padding:.5em}
 #members{color:#555;font-size:90%}
 .private{color:#a0a}.who{font-weight:bold}.room{color:#36c;font-size:80%}.err{color:#c00}
</style>
</head><body>
<h1>Sockline STOMP chat</h1>
<p id="status">connecting…</p>
<form id="join">Room <input id="room" size="12"> <button>Join</button></form>
<p id="members"></p>
<div id="log"></div>
<form id="f">To <input id="to" size="10" placeholder="(room)"> <input id="msg" autocomplete="off" size="40" disabled> <button id="send" disabled>Send</button></form>
<script>
(function () {
  var params = new URLSearchParams(location.search);
  var server = params.get('server') || (location.origin + '/stomp');
  var transport = params.get('transport');
  var name = params.get('name') || '';
  var room = null, roomSub = null, presenceSubs = [];
  // last[room] is the position of the last message shown, to resubscribe
  // from after a reconnect; members holds the room's members by id.
  var last = {}, members = new Map();
  window.chatMembers = [];
  function showMembers() {
    var names = Array.from(members.values()).sort();
    window.chatMembers = names;
    document.getElementById('members').textContent = 'in #' + room + ': ' + names.join(', ');
  }
  var log = document.getElementById('log');
  var status = document.getElementById('status');
  window.chatLog = [];
  function line(cls, parts, rec) {
    window.chatLog.push(rec);
    var div = document.createElement('div');
    div.className = cls;
    parts.forEach(function (p) {
      var span = document.createElement('span');
      span.className = p[0]; span.textContent = p[1];
      div.appendChild(span);
    });
    log.appendChild(div); log.scrollTop = log.scrollHeight;
  }
  var client = new StompJs.Client({
    webSocketFactory: function () {
      var sock = new SockJS(server, null, transport ? {transports: [transport]} : {});
      client.sock = sock;
      return sock;
    },
    connectHeaders: {login: name},
    reconnectDelay: 1000 // reconnect, and catch up (see join)
  });
  window.chatClient = client;
  // Room names become destination segments: the server refuses others,
  // and a refused SUBSCRIBE is a protocol error that ends the session, so
  // the page checks first.
  var roomName = /^[A-Za-z0-9_-]{1,32}$/;
  function join(r) {
    if (!roomName.test(r)) {
      line('err', [['', 'error: room names are 1 to 32 letters, digits, - or _']], {kind: 'error', text: 'bad room name'});
      return;
    }
    if (roomSub && client.connected) roomSub.unsubscribe();
    presenceSubs.forEach(function (s) { if (client.connected) s.unsubscribe(); });
    room = r;
    document.getElementById('room').value = r;
    members = new Map();
    showMembers();
    // Joins and leaves, then the members as they are now.
    presenceSubs = [
      client.subscribe('/topic/presence.rooms/' + r, function (m) {
        var ev = JSON.parse(m.body);
        if (ev.joined) members.set(ev.member.id, ev.member.info); else members.delete(ev.member.id);
        showMembers();
      }),
      client.subscribe('/app/presence/rooms/' + r, function (m) {
        JSON.parse(m.body).forEach(function (mb) { members.set(mb.id, mb.info); });
        showMembers();
      })
    ];
    // From the message after the last one shown (x-stream-offset), in the
    // same stream (x-stream-epoch); the first time, from now on.
    var headers = {receipt: 'join-' + r, 'x-presence': 'true', 'x-stream-offset': 'next'};
    if (last[r]) {
      headers['x-stream-offset'] = 'offset=' + (last[r].offset + 1);
      headers['x-stream-epoch'] = last[r].epoch;
    }
    roomSub = client.subscribe('/topic/rooms/' + r, function (m) {
      if (m.headers['x-stream-recovered'] === 'false') {
        line('err', [['', '(messages sent while you were away could not be recovered)']], {kind: 'lost', room: r});
      }
      last[r] = {offset: Number(m.headers['x-stream-offset']), epoch: m.headers['x-stream-epoch']};
      line('msg', [['room', '#' + m.headers['x-room'] + ' '], ['who', m.headers['x-from']], ['', ': ' + m.body]],
        {kind: 'room', room: m.headers['x-room'], from: m.headers['x-from'], text: m.body});
    }, headers);
  }
  client.onConnect = function (frame) {
    status.textContent = 'you are ' + frame.headers['user-name'] + ', connected with ' + client.sock.transport;
    client.subscribe('/user/queue/private', function (m) {
      line('private', [['who', m.headers['x-from'] + ' → ' + m.headers['x-to']], ['', ': ' + m.body]],
        {kind: 'private', from: m.headers['x-from'], to: m.headers['x-to'], text: m.body});
    });
    // Application errors (an empty message, a bad addressee) come here;
    // the session stays.
    client.subscribe('/user/queue/errors', function (m) {
      line('err', [['', 'error: ' + m.body]], {kind: 'error', text: m.body});
    });
    client.onUnhandledReceipt = function (f) {
      if (f.headers['receipt-id'] === 'join-' + room) {
        window.chatJoined = room;
        status.textContent = status.textContent.replace(/ in #.*$/, '') + ' in #' + room;
      }
    };
    join(room || params.get('room') || 'lobby');
    document.getElementById('msg').disabled = false;
    document.getElementById('send').disabled = false;
  };
  client.onStompError = function (frame) {
    line('err', [['', 'error: ' + frame.headers.message]], {kind: 'error', text: frame.headers.message});
  };
  client.onWebSocketClose = function (e) { status.textContent = 'closed: ' + e.code + ' ' + e.reason; };
  client.activate();
  document.getElementById('join').onsubmit = function (ev) {
    ev.preventDefault();
    var r = document.getElementById('room').value.trim();
    if (r) join(r);
  };
  document.getElementById('f').onsubmit = function (ev) {
    ev.preventDefault();
    var input = document.getElementById('msg');
    var to = document.getElementById('to').value.trim();
    if (input.value) {
      client.publish({destination: to ? '/app/private/' + to : '/app/rooms/' + room, body: input.value});
    }
    input.value = '';
  };
})();
</script>
</body></html>
`))
