// How evenly events/shard-map.ts spreads keys over shards, and how many keys a reshard moves. Not a
// test; it asserts nothing (test/unit/shard-map.test.ts holds the bounds). For n = 2..8 shards and
// K keys: the fewest and most keys a shard holds, as a share of K/n, and the fraction of keys whose
// shard changes when the map is resharded n -> n+1 over the same view (ideal: 1/(n+1)), and how many
// of those went anywhere but the new shard (rendezvous hashing: none). Two key sets: random strings
// (1 to 50 UTF-16 code units, mostly ASCII, from test/support/random.ts with a fixed seed, so runs agree) and "key0".."key<K-1>".
//   node scripts/shard-balance.mjs            (KEYS=100000 by default)
import { tsImport } from 'tsx/esm/api';

const { initialShardMap, reshard, shardOfKey } = await tsImport('../events/shard-map.ts', import.meta.url);
const { Random } = await tsImport('../test/support/random.ts', import.meta.url);

const keyCount = Number(process.env.KEYS ?? 100_000);
const view = Array.from({ length: 18 }, (_, i) => `10.0.0.${i + 2}:8090`);

function randomKeys(count, seed) {
  const random = new Random(seed);
  const keys = new Set();
  while (keys.size < count) {
    const length = random.int(1, 50);
    let key = '';
    // One unit in 16 beyond ASCII (Latin to CJK), the rest printable ASCII.
    for (let i = 0; i < length; i++) key += String.fromCharCode(random.chance(1 / 16) ? random.int(0xa0, 0x509f) : random.int(0x21, 0x7e));
    keys.add(key);
  }
  return [...keys];
}

const keySets = [
  ['random', randomKeys(keyCount, 138)],
  ['sequential', Array.from({ length: keyCount }, (_, i) => `key${i}`)],
];

const percent = (x) => `${(x * 100).toFixed(2)}%`;
const signed = (x) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}%`;

for (const [name, keys] of keySets) {
  console.log(`\n${name} keys, K = ${keys.length}`);
  console.log('  n | K/n     | min share      | max share      | moved n->n+1 | 1/(n+1) | moved elsewhere');
  for (let n = 2; n <= 8; n++) {
    const map = initialShardMap(view, n);
    const next = reshard(map, view, n + 1);
    const counts = new Map(map.shards.map((shard) => [shard.id, 0]));
    let moved = 0;
    let elsewhere = 0;
    for (const key of keys) {
      const before = shardOfKey(map, key);
      const after = shardOfKey(next, key);
      counts.set(before, counts.get(before) + 1);
      if (before !== after) {
        moved++;
        if (after !== n + 1) elsewhere++;
      }
    }
    const fair = keys.length / n;
    const min = Math.min(...counts.values());
    const max = Math.max(...counts.values());
    console.log(
      `  ${n} | ${fair.toFixed(0).padEnd(7)} | ${String(min).padStart(6)} ${signed(min / fair - 1).padStart(7)} | ${String(max).padStart(6)} ${signed(max / fair - 1).padStart(7)} | ${percent(moved / keys.length).padStart(12)} | ${percent(1 / (n + 1)).padStart(7)} | ${elsewhere}`,
    );
  }
}

// Cost of one lookup (8 shards, the random keys): the best of 5 passes, so JIT warm-up and a busy
// machine count less. A rough figure, not a benchmark.
const map8 = initialShardMap(view, 8);
const [, sample] = keySets[0];
let sink = 0;
let best = Infinity;
for (let pass = 0; pass < 5; pass++) {
  const started = process.hrtime.bigint();
  for (const key of sample) sink += shardOfKey(map8, key);
  best = Math.min(best, Number(process.hrtime.bigint() - started) / sample.length);
}
console.log(`\nshardOfKey with 8 shards: ${best.toFixed(0)} ns per key (random keys, mean length 25.5) [${sink % 10}]`);
