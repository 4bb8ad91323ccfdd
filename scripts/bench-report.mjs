// The report of `npm run bench`: the Markdown it prints and writes to bench/results/<timestamp>.md
// (the loads table, the replication-lag table, CPU profile tables), and the number formatting of
// its log lines.
import { LOADS } from './bench-settings.mjs';

export const fmt = (v, digits = 1) => (v === null || v === undefined ? '-' : Number(v).toFixed(digits));
const statusList = (map) =>
  Object.keys(map).length === 0
    ? '0'
    : Object.entries(map)
        .sort()
        .map(([s, n]) => `${s}: ${n}`)
        .join(', ');

export function profileMarkdown(prof) {
  const out = [];
  out.push(`CPU profile ${prof.name} (busy ${prof.busyMs} ms, idle ${prof.idleMs} ms), top self time:`);
  out.push('');
  out.push('| function | self ms | share |');
  out.push('| --- | ---: | ---: |');
  for (const f of prof.topFunctions) out.push(`| ${f.label.replace(/\|/g, '\\|')} | ${f.ms} | ${fmt(f.share * 100, 1)}% |`);
  out.push('');
  out.push('| module | self ms | share |');
  out.push('| --- | ---: | ---: |');
  for (const m of prof.topModules.slice(0, 10)) out.push(`| ${m.label} | ${m.ms} | ${fmt(m.share * 100, 1)}% |`);
  if (prof.topOwnInclusive.length > 0) {
    out.push('');
    out.push('| own function (inclusive: itself and what it calls) | total ms | share |');
    out.push('| --- | ---: | ---: |');
    for (const f of prof.topOwnInclusive) out.push(`| ${f.label.replace(/\|/g, '\\|')} | ${f.ms} | ${fmt(f.share * 100, 1)}% |`);
  }
  return out;
}

export function markdown(report) {
  const lines = [];
  const c = report.config;
  lines.push(`## causal-kvs bench ${report.startedAt}`);
  lines.push('');
  lines.push(
    `${c.connections} connections (store: ${c.connections / 3} per replica), ${c.seconds} s per load after ${c.warmupSeconds} s warm-up, ` +
      `${c.repeat} repeat(s) (median), ${c.keys} keys, ${c.cpus} CPUs, load average at start ${c.loadAverage.join(' ')}, commit ${c.commit}${c.dirty ? ' (+ uncommitted changes)' : ''}`,
  );
  if (report.preload) lines.push(`Preload of ${c.keys} keys (32 clients): baseline ${fmt(report.preload.baselineSeconds)} s, store ${fmt(report.preload.storeSeconds)} s.`);
  lines.push('');
  lines.push('| load | target | req/s | p50 ms | p99 ms | p999 ms | store/baseline | server CPU us/req | non-2xx | 503 | meta B/req | carried |');
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |');
  for (const load of report.loads) {
    for (const r of [load.baseline, load.store]) {
      const range = load.pairRatios.length > 1 ? ` (${fmt(Math.min(...load.pairRatios), 2)}-${fmt(Math.max(...load.pairRatios), 2)})` : '';
      const ratio = r === load.store ? `${fmt(load.ratio, 2)}${range}` : '';
      const non2xx = { ...r.non2xx };
      delete non2xx['503'];
      const other = statusList(non2xx) + (r.errors ? `, errors: ${r.errors}` : '') + (r.timeouts ? `, timeouts: ${r.timeouts}` : '');
      lines.push(
        `| ${LOADS[load.load].title} | ${r.target} | ${fmt(r.throughput, 0)} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ${fmt(r.p999Ms, 2)} | ${ratio} | ${fmt(r.serverCpuUsPerResponse, 0)} | ${other} | ${r.count503} | ${fmt(r.metadataBytesPerRequest, 0)} | ${fmt(r.carriedShare * 100, 1)}% |`,
      );
    }
  }
  if (report.lag) {
    const l = report.lag;
    lines.push('');
    lines.push(
      `Replication lag at ${fmt(l.load.achievedRate, 0)} writes/s (target ${fmt(l.load.targetRate, 0)}, half of the measured peak ${fmt(l.peakWrites, 0)}); ` +
        `write load p50/p99 ${fmt(l.load.p50Ms, 2)}/${fmt(l.load.p99Ms, 2)} ms, 503: ${l.load.count503}; CPU meanwhile: replicas ${fmt(l.load.serverCores, 2)} cores, ` +
        `load generator and probe ${fmt(l.load.generatorCores, 2)} cores, of ${c.cpus}:`,
    );
    lines.push('');
    lines.push('| lag p50 ms | lag p99 ms | all replicas p50 / p99 ms | max ms | ack->answer p50 / p99 ms | plain GET p50 / p99 ms | samples | 503 |');
    lines.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    const s = l.summary;
    lines.push(
      `| ${fmt(s.lagP50Ms, 2)} | ${fmt(s.lagP99Ms, 2)} | ${fmt(s.lagAllReplicasP50Ms, 2)} / ${fmt(s.lagAllReplicasP99Ms, 2)} | ${fmt(s.lagMaxMs, 2)} | ${fmt(s.rawAckToAnswerP50Ms, 2)} / ${fmt(s.rawAckToAnswerP99Ms, 2)} | ${fmt(s.plainGetP50Ms, 2)} / ${fmt(s.plainGetP99Ms, 2)} | ${s.samples} | ${s.probe503} |`,
    );
    if (l.runs.length > 1) lines.push('', `Lag p99 of each of the ${l.runs.length} runs (the table shows the median one): ${l.runs.map((run) => fmt(run.summary.lagP99Ms, 2)).join(', ')} ms.`);
    lines.push('');
    lines.push(
      'lag: from the acknowledgement of a PUT at one replica until each other replica answers a GET carrying the returned metadata, ' +
        'minus that replica\'s median plain GET; all replicas: the later of the two per write; ack->answer: uncorrected; plain GET: a GET whose metadata the replica already covers (no wait), its p99 is the floor under the lag p99.',
    );
  }
  lines.push('');
  lines.push(`503 answers in total: ${report.total503}.`);
  for (const prof of report.profiles ?? []) {
    lines.push('');
    lines.push(...profileMarkdown(prof));
  }
  return lines.join('\n') + '\n';
}
