import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * Fault injection inside a private network namespace that this test process runs in (the test
 * runner starts fault tests with `unshare -n`). Links between replicas are cut with nft rules on
 * the owner uid of each replica's sockets, so the test's own client traffic is never affected.
 * Traffic never leaves the namespace: only its loopback interface exists.
 */

const table = 'kvs_faults';

export function assertPrivateNamespace(): void {
  const links = readFileSync('/proc/net/dev', 'utf8')
    .split('\n')
    .slice(2)
    .map((line) => line.split(':')[0]!.trim())
    .filter((name) => name !== '');
  if (links.length !== 1 || links[0] !== 'lo') {
    throw new Error(`fault tests must run in a private network namespace with only lo (found ${links.join(', ')}); run them through npm test`);
  }
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
}

function nft(script: string): void {
  execFileSync('nft', ['-f', '-'], { input: script, stdio: ['pipe', 'ignore', 'pipe'] });
}

export interface Host {
  readonly ip: string;
  readonly uid: number;
}

/** Removes every rule this module made. */
export function healAll(): void {
  try {
    nft(`delete table inet ${table}`);
  } catch {
    // no table: nothing to heal
  }
}

function ensureTable(): void {
  nft(`table inet ${table} {\n chain output { type filter hook output priority 0; policy accept; }\n}`);
}

/** Cuts `host` off from every host in `others`, both ways, including established connections. */
export function isolate(host: Host, others: readonly Host[]): void {
  ensureTable();
  const otherUids = others.map((o) => o.uid).join(', ');
  const otherIps = others.map((o) => o.ip).join(', ');
  nft(
    [
      `add rule inet ${table} output meta skuid { ${otherUids} } ip daddr ${host.ip} drop`,
      `add rule inet ${table} output meta skuid ${host.uid} ip daddr { ${otherIps} } drop`,
    ].join('\n'),
  );
}

/**
 * As docker does when a container comes back at a new address: its own outbound connections work
 * again, but nobody can open a connection to its old address (old connections to it are dead too).
 */
export function outboundOnly(host: Host, others: readonly Host[]): void {
  healAll();
  ensureTable();
  const otherUids = others.map((o) => o.uid).join(', ');
  nft(`add rule inet ${table} output meta skuid { ${otherUids} } ip daddr ${host.ip} ct direction original drop`);
}
