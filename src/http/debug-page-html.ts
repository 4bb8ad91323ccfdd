/**
 * The debug page served at `GET /debug`: one self-contained document, no framework, no external
 * assets. Its script polls `/debug/state` and `/debug/recent` of this replica and of every replica
 * in its view (cross-origin: those GETs carry `Access-Control-Allow-Origin: *`), and `/debug/log`
 * of this replica for the body of an event it lacks.
 *
 * What the space-time diagram shows, honestly:
 *  - A dot is a write, on its origin's lane, at the moment the origin made it. The origin reports
 *    each write's age on its own monotonic clock (`agoMs`); the page subtracts it from the middle of
 *    the request's round trip, so no two machines' clocks are compared and the error is at most
 *    half a round trip. Dots are thus ordered by time of first sight at the origin.
 *  - An arrow runs from that dot to the moment another replica delivered the event. When that
 *    replica recorded the delivery (`/debug/recent` records what each push delivered, including
 *    what it released from the pending buffer), the head is placed the same way (solid arrow).
 *    Otherwise (a snapshot, records already gone, the page opened later) the head is the first poll
 *    whose delivered clock covered the event: an upper bound, up to a poll interval late (dashed).
 *    A head never sits left of its dot: delivery cannot come before creation.
 *  - Only the last 200 writes of the last two minutes are drawn; the page remembers 1000 events.
 * This file is a TypeScript string so that the single-file bundle carries it; String.raw keeps the
 * script's backslashes as written.
 */
export const debugPageHtml = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>causal-kvs · debug</title>
<style>
  :root { --ink: #1d2330; --muted: #6b7385; --line: #e3e6ec; --bg: #f5f6f8; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", sans-serif; color: var(--ink); background: var(--bg); }
  header { display: flex; align-items: baseline; gap: 14px; padding: 10px 20px; background: var(--ink); color: #fff; }
  header h1 { margin: 0; font-size: 16px; font-weight: 650; letter-spacing: .01em; }
  header .mono { color: #c9d2e3; }
  #status { margin-left: auto; font-size: 12px; color: #9fb0c8; }
  #status.error { color: #ffb4b4; }
  main { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 14px; padding: 14px 20px 20px; }
  .card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px 12px; min-width: 0; }
  .wide { grid-column: 1 / -1; }
  h2 { margin: 0 0 8px; font-size: 13px; font-weight: 650; }
  h2 small { font-weight: 400; color: var(--muted); margin-left: 6px; }
  h3 { margin: 10px 0 4px; font-size: 11px; font-weight: 600; color: var(--muted); text-transform: uppercase; letter-spacing: .05em; }
  table { width: 100%; border-collapse: collapse; }
  th, td { text-align: left; padding: 3px 8px 3px 0; border-bottom: 1px solid #f0f1f4; vertical-align: top; white-space: nowrap; }
  th { font-size: 11px; font-weight: 600; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  td.wrap { white-space: normal; }
  .mono { font-family: ui-monospace, SFMono-Regular, Menlo, "DejaVu Sans Mono", monospace; font-size: 12px; }
  .muted { color: var(--muted); }
  .empty { color: var(--muted); padding: 6px 0; }
  dl.facts { display: grid; grid-template-columns: auto 1fr; gap: 2px 14px; margin: 0; }
  dl.facts dt { color: var(--muted); }
  dl.facts dd { margin: 0; font-variant-numeric: tabular-nums; }
  .chips { display: flex; flex-wrap: wrap; gap: 6px; margin: 0; padding: 0; list-style: none; }
  .chip { border: 1px solid var(--line); border-radius: 12px; padding: 1px 9px; }
  .chip.self { border-color: #93b4f5; background: #eef3fe; }
  .badge { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 11px; font-weight: 600; line-height: 17px; }
  .up { background: #e2f5e9; color: #17753b; }
  .failing { background: #fff2d1; color: #8a5d00; }
  .held-down, .down { background: #fde3e3; color: #a32020; }
  .unknown, .out { background: #eceef2; color: #5b6270; }
  .note { margin: 6px 0 0; color: var(--muted); font-size: 12px; max-width: 1100px; }
  #diagram svg { display: block; width: 100%; }
  #diagram text { font-family: inherit; }
  #diagram .event-key { paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
  .swatch { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 3px; vertical-align: -1px; border: 1.5px solid currentColor; }
  @media (max-width: 1000px) { main { grid-template-columns: 1fr; } }
</style>
</head>
<body>
<header>
  <h1>causal-kvs</h1>
  <span id="self" class="mono">…</span>
  <span id="status">connecting…</span>
</header>
<main>
  <section class="card">
    <h2>This replica</h2>
    <dl class="facts" id="summary"></dl>
    <h3>View</h3>
    <ul class="chips" id="view"></ul>
  </section>
  <section class="card">
    <h2>Clock<small>delivered · stable frontier</small></h2>
    <table id="clock"></table>
  </section>
  <section class="card">
    <h2>Replicas in the view<small>as this page reaches them</small></h2>
    <table id="reach"></table>
  </section>
  <section class="card wide">
    <h2>Peers<small>as this replica sees them</small></h2>
    <table id="peers"></table>
  </section>
  <section class="card wide">
    <h2>Space-time diagram<small id="diagram-note"></small></h2>
    <div id="diagram"></div>
    <p class="note">Lanes are the replicas of this replica's view; a dot is a write on its origin's lane (filled: put, hollow: delete), placed when the origin made it.
      An arrow ends where another replica delivered it: solid when that replica recorded the delivery, dashed when only a poll of its clock shows it
      (then it is an upper bound, up to one poll late). Times are measured on each replica's own clock as ages, never compared across machines.</p>
  </section>
  <section class="card wide">
    <h2>Log tail<small>events delivered here, newest first</small></h2>
    <table id="log-tail"></table>
  </section>
</main>
<script>
(function () {
  'use strict';
  var POLL_MS = 500;
  var FETCH_TIMEOUT_MS = 2000;
  var DOTS_MAX = 200;
  var KEEP_MAX = 1000;
  var TAIL_ROWS = 25;
  var RANGE_MAX = 200;
  var WINDOW_MIN_MS = 10000;
  var WINDOW_MAX_MS = 120000;
  var COLORS = ['#2563eb', '#d97706', '#059669', '#db2777', '#7c3aed', '#0891b2', '#65a30d', '#dc2626'];
  var SVG_NS = 'http://www.w3.org/2000/svg';

  var selfAddress = null;
  var selfState = null;
  var lanes = [];
  var replicas = {};
  var events = {};
  var eventCount = 0;
  var tail = [];
  var inTail = {};

  // ------------------------------------------------------------------ helpers

  function build(node, attrs, children) {
    if (attrs) Object.keys(attrs).forEach(function (name) { if (attrs[name] !== undefined && attrs[name] !== null) node.setAttribute(name, String(attrs[name])); });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
    });
    return node;
  }
  function el(tag, attrs, children) { return build(document.createElement(tag), attrs, children); }
  function sv(tag, attrs, children) { return build(document.createElementNS(SVG_NS, tag), attrs, children); }
  function fill(id, children) { var node = document.getElementById(id); node.replaceChildren.apply(node, children); }
  function addressOf(id) { return id.slice(0, id.lastIndexOf('/')); }
  function incarnationOf(id) { return id.slice(id.lastIndexOf('/') + 1); }
  function pad(n, w) { n = String(n); while (n.length < (w || 2)) n = '0' + n; return n; }
  function clockTime(ms) { var d = new Date(ms); return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' + pad(d.getMilliseconds(), 3); }
  function ago(ms) { return ms === null || ms === undefined ? '–' : ms < 1000 ? ms + ' ms ago' : (ms / 1000).toFixed(ms < 10000 ? 1 : 0) + ' s ago'; }
  function short(text, max) { text = String(text); return text.length > max ? text.slice(0, max - 1) + '…' : text; }
  function clockSum(clock) { var sum = 0; Object.keys(clock || {}).forEach(function (id) { sum += clock[id]; }); return sum; }
  function laneColor(address) { var i = lanes.indexOf(address); return i < 0 ? '#9aa1ad' : COLORS[i % COLORS.length]; }
  function urlFor(address, path) { return address === selfAddress ? path : 'http://' + address + path; }
  function badge(cls, text) { return el('span', { 'class': 'badge ' + cls }, [text]); }
  function row(cells, attrs) { return el('tr', attrs, cells); }
  function th(text, cls) { return el('th', cls ? { 'class': cls } : null, [text]); }
  function td(content, cls) { return el('td', cls ? { 'class': cls } : null, Array.isArray(content) ? content : [content]); }

  function fetchJson(url) {
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, FETCH_TIMEOUT_MS);
    var t0 = Date.now();
    return fetch(url, { signal: controller.signal, cache: 'no-store' })
      .then(function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.json();
      })
      .then(function (body) { return { body: body, t0: t0, t1: Date.now() }; }, function (err) {
        throw new Error(err && err.name === 'AbortError' ? 'timed out' : (err && err.message) || String(err));
      })
      .finally(function () { clearTimeout(timer); });
  }

  function setStatus(ok, text) {
    var node = document.getElementById('status');
    node.className = ok ? '' : 'error';
    node.textContent = text;
  }

  // ------------------------------------------------------------------ model

  function ensureEvent(origin, seq) {
    var id = origin + '#' + seq;
    var ev = events[id];
    if (!ev) {
      ev = events[id] = { id: id, origin: origin, seq: seq, lane: addressOf(origin), type: null, key: null, value: undefined,
        createdAt: null, firstSeen: Date.now(), delivered: {}, logTried: false };
      eventCount++;
    }
    return ev;
  }

  function markDelivered(ev, address, at, exact) {
    var known = ev.delivered[address];
    if (!known || at < known.at) ev.delivered[address] = { at: at, exact: exact };
  }

  function noteTail(ev, at) {
    if (inTail[ev.id]) return;
    inTail[ev.id] = true;
    tail.push({ ev: ev, at: at });
    if (tail.length > KEEP_MAX) delete inTail[tail.shift().ev.id];
  }

  function applyRecords(address, answer) {
    var middle = (answer.t0 + answer.t1) / 2;
    answer.body.records.forEach(function (record) {
      var at = middle - record.agoMs;
      if (record.kind === 'write') {
        var e = record.event;
        var ev = ensureEvent(e.origin, e.seq);
        ev.type = e.type;
        ev.key = e.key;
        ev.value = e.type === 'put' ? e.value : undefined;
        ev.createdAt = at;
        markDelivered(ev, address, at, true);
        if (address === selfAddress) noteTail(ev, at);
      } else {
        for (var seq = Math.max(record.fromSeq, record.toSeq - RANGE_MAX + 1); seq <= record.toSeq; seq++) {
          var delivered = ensureEvent(record.origin, seq);
          markDelivered(delivered, address, at, true);
          if (address === selfAddress) noteTail(delivered, at);
        }
      }
    });
  }

  function pollReplica(address, knownState) {
    var r = replicas[address] || (replicas[address] = { id: null, state: null, error: null, okAt: 0, cursor: 0 });
    var statePromise = knownState ? Promise.resolve(knownState) : fetchJson(urlFor(address, '/debug/state'));
    return statePromise
      .then(function (answer) {
        var state = answer.body;
        if (state.id !== r.id) { r.id = state.id; r.cursor = 0; }
        r.state = state;
        return fetchJson(urlFor(address, '/debug/recent?after=' + r.cursor)).then(function (recent) {
          if (recent.body.id !== r.id) { r.cursor = 0; return; }
          applyRecords(address, recent);
          r.cursor = recent.body.next;
          // Whatever the clock covered when it was read and no record placed: delivered by then.
          Object.keys(events).forEach(function (id) {
            var ev = events[id];
            if (!ev.delivered[address] && (state.clock[ev.origin] || 0) >= ev.seq) markDelivered(ev, address, answer.t1, false);
          });
          r.error = null;
          r.okAt = Date.now();
        });
      })
      .catch(function (err) { r.error = err.message; });
  }

  /** The tail shows events this replica delivered; fetch the body of one whose origin the page did not read, once. */
  function fillTailBodies() {
    var missing = newestTail().filter(function (entry) { return entry.ev.key === null && !entry.ev.logTried; });
    return Promise.all(missing.map(function (entry) {
      var ev = entry.ev;
      ev.logTried = true;
      var path = '/debug/log?origin=' + encodeURIComponent(ev.origin) + '&since=' + (ev.seq - 1) + '&limit=1';
      return fetchJson(path).then(function (answer) {
        var found = answer.body.events[0];
        if (found && found.seq === ev.seq) { ev.type = found.type; ev.key = found.key; ev.value = found.type === 'put' ? found.value : undefined; }
      }, function () {});
    }));
  }

  function prune() {
    if (eventCount <= KEEP_MAX) return;
    var all = Object.keys(events).map(function (id) { return events[id]; });
    all.sort(function (a, b) { return (a.createdAt || a.firstSeen) - (b.createdAt || b.firstSeen); });
    all.slice(0, eventCount - KEEP_MAX).forEach(function (ev) { delete events[ev.id]; });
    eventCount = KEEP_MAX;
    tail = tail.filter(function (entry) { if (events[entry.ev.id]) return true; delete inTail[entry.ev.id]; return false; });
  }

  function newestTail() {
    return tail.slice().sort(function (a, b) { return b.at - a.at || b.ev.seq - a.ev.seq; }).slice(0, TAIL_ROWS);
  }

  // ------------------------------------------------------------------ rendering

  function renderHeader() {
    document.getElementById('self').textContent = selfState ? selfState.address + '  ·  incarnation ' + incarnationOf(selfState.id) : '…';
  }

  function renderSummary() {
    var s = selfState;
    var facts = [
      ['Log length', s.logLength + ' events'],
      ['Pending', s.pendingEvents + ' events'],
      ['Live keys', s.liveKeys],
      ['Tombstones', s.tombstones],
      ['Delivered', s.deliveredEvents + ' events since start'],
      ['Stable', clockSum(s.stableFrontier) + ' of ' + clockSum(s.clock) + ' (clock sums)']
    ];
    var items = [];
    facts.forEach(function (f) { items.push(el('dt', null, [f[0]]), el('dd', null, [String(f[1])])); });
    fill('summary', items);
    fill('view', s.view.map(function (address) {
      var r = replicas[address];
      var cls = 'chip mono' + (address === selfAddress ? ' self' : '');
      return el('li', { 'class': cls, title: address === selfAddress ? 'this replica' : r && r.error ? 'page cannot reach it: ' + r.error : 'peer' }, [
        el('span', { 'class': 'swatch', style: 'color:' + laneColor(address) + (r && r.error ? '' : ';background:' + laneColor(address)) }),
        address
      ]);
    }));
  }

  function renderClock() {
    var s = selfState;
    var ids = Object.keys(s.clock).sort();
    if (ids.length === 0) { fill('clock', [el('tr', null, [el('td', { 'class': 'empty' }, ['no events yet'])])]); return; }
    var rows = [row([th('origin'), th('delivered', 'num'), th('stable', 'num')])];
    ids.forEach(function (id) {
      var own = id === s.id;
      rows.push(row([
        td([el('span', { 'class': 'mono', style: own ? 'font-weight:600' : null }, [addressOf(id)]), el('span', { 'class': 'muted mono' }, [' /' + incarnationOf(id)])]),
        td(String(s.clock[id]), 'num mono'),
        td(String(s.stableFrontier[id] || 0), 'num mono muted')
      ]));
    });
    fill('clock', rows);
  }

  function renderReach() {
    var rows = [row([th('replica'), th('page'), th('delivered', 'num'), th('log', 'num'), th('pending', 'num')])];
    lanes.forEach(function (address) {
      var r = replicas[address];
      var st = r && r.state;
      var reach = !r ? badge('unknown', 'not yet') : r.error ? el('span', { title: r.error }, [badge('down', 'unreachable')]) : badge('up', 'ok');
      rows.push(row([
        td([el('span', { 'class': 'swatch', style: 'color:' + laneColor(address) + ';background:' + laneColor(address) }), el('span', { 'class': 'mono' }, [address])]),
        td(reach),
        td(st ? String(clockSum(st.clock)) : '–', 'num mono'),
        td(st ? String(st.logLength) : '–', 'num mono'),
        td(st ? String(st.pendingEvents) : '–', 'num mono')
      ]));
    });
    fill('reach', rows);
  }

  function renderPeers() {
    var peers = selfState.peers;
    if (peers.length === 0) { fill('peers', [el('tr', null, [el('td', { 'class': 'empty' }, ['no peers'])])]); return; }
    var rows = [row([th('peer'), th('in view'), th('link'), th('last failure'), th('last success'), th('missed probes', 'num'), th('lacks events', 'num'), th('incarnation')])];
    peers.forEach(function (p) {
      var link = p.link;
      var state = link.state === 'held-down' ? badge('held-down', 'held down · ' + link.heldDownRemainingMs + ' ms left')
        : link.state === 'failing' ? badge('failing', 'failing') : badge('up', 'up');
      var failure = link.lastFailureReason === null ? el('span', { 'class': 'muted' }, ['none'])
        : el('span', null, [short(link.lastFailureReason, 90), el('span', { 'class': 'muted' }, [' · ' + ago(link.lastFailureAgoMs)])]);
      rows.push(row([
        td(el('span', { 'class': 'mono' }, [p.address])),
        td(p.inView ? badge('up', 'in view') : badge('out', p.probed ? 'out · probed' : 'out')),
        td(state),
        td(failure, 'wrap'),
        td(ago(link.lastSuccessAgoMs), 'muted'),
        td(String(p.missedProbes), 'num mono'),
        td(String(p.lacksEvents), 'num mono'),
        td(p.incarnation === null ? '–' : p.incarnation, 'mono muted')
      ]));
    });
    fill('peers', rows);
  }

  function renderTail() {
    var entries = newestTail();
    if (entries.length === 0) { fill('log-tail', [el('tr', null, [el('td', { 'class': 'empty' }, ['no events delivered here since this page opened'])])]); return; }
    var rows = [row([th('delivered here'), th('origin'), th('seq', 'num'), th('op'), th('key'), th('value'), th('delivered at')])];
    entries.forEach(function (entry) {
      var ev = entry.ev;
      var value = ev.key === null ? el('span', { 'class': 'muted' }, ['(not read: compacted)']) : ev.type === 'delete' ? el('span', { 'class': 'muted' }, ['(tombstone)']) : short(JSON.stringify(ev.value), 60);
      var marks = lanes.map(function (address) {
        var done = !!ev.delivered[address];
        return el('span', { 'class': 'swatch', title: address + (done ? ' delivered it' : ' has not delivered it yet'),
          style: 'color:' + laneColor(address) + (done ? ';background:' + laneColor(address) : '') });
      });
      rows.push(row([
        td(clockTime(entry.at), 'mono muted'),
        td([el('span', { 'class': 'swatch', style: 'color:' + laneColor(ev.lane) + ';background:' + laneColor(ev.lane) }), el('span', { 'class': 'mono' }, [ev.lane])]),
        td(String(ev.seq), 'num mono'),
        td(ev.type || '?'),
        td(ev.key === null ? '?' : short(ev.key, 40), 'mono key'),
        td(value, 'mono'),
        td(marks)
      ], { 'data-id': ev.id }));
    });
    fill('log-tail', rows);
  }

  function renderDiagram() {
    var host = document.getElementById('diagram');
    var width = Math.max(640, host.clientWidth || 1000);
    var left = 200, right = 28, top = 30, laneGap = 62;
    var plot = width - left - right;
    var height = top + Math.max(1, lanes.length) * laneGap + 4;
    var laneY = {};
    lanes.forEach(function (address, i) { laneY[address] = top + 26 + i * laneGap; });

    var now = Date.now();
    var dots = Object.keys(events).map(function (id) { return events[id]; })
      .filter(function (ev) { return ev.createdAt !== null && laneY[ev.lane] !== undefined && ev.createdAt >= now - WINDOW_MAX_MS; })
      .sort(function (a, b) { return a.createdAt - b.createdAt || a.seq - b.seq; })
      .slice(-DOTS_MAX);
    var windowMs = dots.length === 0 ? WINDOW_MIN_MS : Math.min(WINDOW_MAX_MS, Math.max(WINDOW_MIN_MS, now - dots[0].createdAt + 2000));
    var t0 = now - windowMs;
    function x(t) { return left + Math.min(1, Math.max(0, (t - t0) / windowMs)) * plot; }

    var svg = sv('svg', { viewBox: '0 0 ' + width + ' ' + height, width: width, height: height, role: 'img', 'aria-label': 'space-time diagram' });
    var defs = sv('defs');
    lanes.forEach(function (address, i) {
      defs.appendChild(sv('marker', { id: 'arrow-' + i, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
        [sv('path', { d: 'M0,0 L10,5 L0,10 z', fill: laneColor(address) })]));
    });
    svg.appendChild(defs);

    var steps = [1000, 2000, 5000, 10000, 15000, 30000, 60000];
    var step = steps.filter(function (s) { return windowMs / s <= 8; })[0] || 60000;
    for (var k = 0; now - k * step >= t0; k++) {
      var gx = x(now - k * step);
      svg.appendChild(sv('line', { x1: gx, x2: gx, y1: top - 4, y2: height - 4, stroke: k === 0 ? '#c8ceda' : '#eef0f4', 'stroke-width': 1 }));
      svg.appendChild(sv('text', { x: gx, y: top - 10, 'text-anchor': k === 0 ? 'end' : 'middle', 'font-size': 10, fill: '#8a92a3' },
        [k === 0 ? 'now' : '\u2212' + (k * step) / 1000 + ' s']));
    }

    lanes.forEach(function (address) {
      var y = laneY[address];
      var r = replicas[address];
      var peer = selfState.peers.filter(function (p) { return p.address === address; })[0];
      var sub = address === selfAddress ? 'this replica' : r && r.error ? 'page cannot reach it' : peer ? 'link ' + peer.link.state.replace('-', ' ') : '';
      svg.appendChild(sv('line', { x1: left - 8, x2: width - right, y1: y, y2: y, stroke: '#d3d8e1', 'stroke-width': 1.5 }));
      svg.appendChild(sv('circle', { cx: 14, cy: y - 4, r: 5, fill: laneColor(address) }));
      svg.appendChild(sv('text', { x: 26, y: y, 'font-size': 12, 'font-weight': address === selfAddress ? 650 : 500, fill: '#1d2330', 'class': 'lane-label' }, [address]));
      svg.appendChild(sv('text', { x: 26, y: y + 14, 'font-size': 10.5, fill: r && r.error ? '#a32020' : '#8a92a3' }, [sub]));
    });

    var arrows = sv('g', { 'class': 'arrows' });
    var marks = sv('g', { 'class': 'events' });
    var labels = sv('g', { 'class': 'labels' });
    var lastLabelX = {};
    dots.forEach(function (ev) {
      var cx = x(ev.createdAt), cy = laneY[ev.lane], color = laneColor(ev.lane);
      var deliveredAt = [];
      lanes.forEach(function (address, i) {
        var d = ev.delivered[address];
        if (address === ev.lane || !d) return;
        var at = Math.max(d.at, ev.createdAt);
        deliveredAt.push(address + ' +' + Math.round(at - ev.createdAt) + ' ms' + (d.exact ? '' : ' (by then)'));
        var tx = x(at), ty = laneY[address];
        var dy = ty > cy ? -6 : 6;
        arrows.appendChild(sv('line', { x1: cx, y1: cy, x2: tx, y2: ty + dy, stroke: color, 'stroke-opacity': 0.55, 'stroke-width': 1.2,
          'stroke-dasharray': d.exact ? null : '3 3', 'marker-end': 'url(#arrow-' + lanes.indexOf(ev.lane) + ')',
          'class': 'delivery', 'data-id': ev.id, 'data-to': address }));
      });
      var title = (ev.type || 'write') + ' ' + ev.key + (ev.type === 'put' ? ' = ' + short(JSON.stringify(ev.value), 80) : '') +
        '\n' + ev.id + '\nmade ' + clockTime(ev.createdAt) + (deliveredAt.length ? '\ndelivered: ' + deliveredAt.join(', ') : '');
      marks.appendChild(sv('circle', { cx: cx, cy: cy, r: 5.5, fill: ev.type === 'delete' ? '#fff' : color, stroke: color, 'stroke-width': 2,
        'class': 'event', 'data-key': ev.key, 'data-id': ev.id, 'data-origin': ev.lane }, [sv('title', null, [title])]));
      if (cx - (lastLabelX[ev.lane] === undefined ? -1e9 : lastLabelX[ev.lane]) >= 34) {
        lastLabelX[ev.lane] = cx;
        labels.appendChild(sv('text', { x: cx, y: cy - 10, 'text-anchor': 'middle', 'font-size': 10.5, fill: '#3b4252', 'class': 'event-key' }, [short(ev.key, 9)]));
      }
    });
    svg.appendChild(arrows);
    svg.appendChild(marks);
    svg.appendChild(labels);
    if (dots.length === 0) {
      svg.appendChild(sv('text', { x: left + plot / 2, y: top + 8, 'text-anchor': 'middle', 'font-size': 12, fill: '#8a92a3' },
        ['no writes in the last ' + windowMs / 1000 + ' s: PUT a key at any replica']));
    }
    host.replaceChildren(svg);
    document.getElementById('diagram-note').textContent = dots.length + ' write' + (dots.length === 1 ? '' : 's') + ' · last ' + Math.round(windowMs / 1000) + ' s · polled every ' + POLL_MS + ' ms';
  }

  function render() {
    if (!selfState) return;
    renderHeader();
    renderSummary();
    renderClock();
    renderReach();
    renderPeers();
    renderDiagram();
    renderTail();
  }

  // ------------------------------------------------------------------ polling

  function poll() {
    var started = Date.now();
    fetchJson('/debug/state')
      .then(function (answer) {
        selfState = answer.body;
        selfAddress = selfState.address;
        lanes = selfState.view.slice();
        if (lanes.indexOf(selfAddress) < 0) lanes.unshift(selfAddress);
        return Promise.all(lanes.map(function (address) { return pollReplica(address, address === selfAddress ? answer : null); }))
          .then(fillTailBodies)
          .then(function () {
            var down = lanes.filter(function (address) { return replicas[address] && replicas[address].error; });
            setStatus(down.length === 0, 'updated ' + clockTime(Date.now()) + (down.length ? ' · cannot reach ' + down.join(', ') : ''));
          });
      })
      .catch(function (err) { setStatus(false, 'cannot read /debug/state of this replica: ' + err.message); })
      .then(function () {
        prune();
        try { render(); } catch (err) { setStatus(false, 'render failed: ' + err.message); }
        setTimeout(poll, Math.max(50, POLL_MS - (Date.now() - started)));
      });
  }

  poll();
})();
</script>
</body>
</html>
`;
