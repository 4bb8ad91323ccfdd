import { debugPageScript } from './debug-page-script.generated.ts';

/**
 * The debug page served at `GET /debug`: one self-contained document, no framework, no external
 * assets. Its script, src/debug-page/ (what the page reads and what its diagram shows is told
 * there), comes bundled for the browser by build.mjs and is inlined here, so that the single-file
 * server bundle carries the whole page.
 */
export const debugPageHtml = `<!doctype html>
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
  <section class="card" id="shards-card" hidden>
    <h2>Shards<small id="shards-note"></small></h2>
    <table id="shards"></table>
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
<script>${debugPageScript}</script>
</body>
</html>
`;
