/**
 * The names of the files in a DATA_DIR. Numbers are zero-padded to six digits so `ls` lists them
 * in order; larger numbers simply grow wider, and the code always compares them as numbers.
 *
 *   segment-<n>.log    records appended, in order; a new segment after every restart, rotation, snapshot
 *   snapshot-<n>.json  the whole state, covering every segment numbered below n
 *   *.tmp              a file being written (meta.json.tmp, snapshot-<n>.json.tmp): removed at start
 *   *.damaged-…        damaged bytes moved aside by recovery, kept for a person to look at
 *   meta.json, LOCK    the incarnation this DATA_DIR belongs to; the pid of the process using it
 */

function padded(n: number): string {
  return String(n).padStart(6, '0');
}

export function segmentName(n: number): string {
  return `segment-${padded(n)}.log`;
}

export function snapshotName(n: number): string {
  return `snapshot-${padded(n)}.json`;
}

const segmentPattern = /^segment-(\d{1,15})\.log$/;
const snapshotPattern = /^snapshot-(\d{1,15})\.json$/;

export interface DataDirListing {
  /** Segment numbers, ascending. */
  readonly segments: number[];
  /** Snapshot numbers, newest (largest) first. */
  readonly snapshots: number[];
  /** Leftovers of writes a crash interrupted. */
  readonly temporary: string[];
}

export function listDataDir(names: readonly string[]): DataDirListing {
  const segments: number[] = [];
  const snapshots: number[] = [];
  const temporary: string[] = [];
  for (const name of names) {
    const segment = segmentPattern.exec(name);
    const snapshot = snapshotPattern.exec(name);
    if (segment) segments.push(Number(segment[1]));
    else if (snapshot) snapshots.push(Number(snapshot[1]));
    else if (name.endsWith('.tmp')) temporary.push(name);
  }
  segments.sort((a, b) => a - b);
  snapshots.sort((a, b) => b - a);
  return { segments, snapshots, temporary };
}
