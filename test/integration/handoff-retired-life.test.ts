// Found in review: in a fault-free reshard, the nodes handed on writes of a retired life of their
// group (a member that restarted more than RETIRE_AFTER_MS before), although the reshard exported
// them: retirement drops the life's entry from the delivered clock the coordinator took as the
// quiesced clock. The key's new shard wrote the old value again as a new event, over a client's
// write made there after the reshard (a write that did not read the key first): the client read
// the old value back (its own write was lost). The quiesced clock now comes with the group's
// retired lives (src/shard/quiesced.ts), and a node strands nothing its own life retired.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Address } from '../../events/ids.ts';
import { membersOf, reshard, shardOfKey } from '../../events/shard-map.ts';
import { startReplica, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { get, put, request, waitFor } from '../support/http.ts';
import { heldByShard, keyMoving, shardMapAt } from '../support/reshard-setup.ts';

const replicas: ReplicaProcess[] = [];
test.after(async () => {
  await stopAll(replicas);
});

const net = 84;

test('a fault-free reshard does not write an exported value again over a later write', async () => {
  const nodes = [1, 2, 3, 4, 5, 6].map((i) => `127.0.${net}.${i}:${27000 + net * 10 + i}`) as Address[];
  for (const address of nodes) replicas.push(await startReplica({ address, view: nodes, env: { SHARD_COUNT: '2', RETIRE_AFTER_MS: '300' } }));
  const before = await shardMapAt(nodes[1]!);
  const b = membersOf(before, 2)[0];
  const next = reshard(before, nodes, 3);
  const key = keyMoving('old-', before, next, 2, 3);
  assert.is(shardOfKey(next, key), 3);

  // b writes the key while in shard 2; every member of shard 2 holds it.
  const written = await put(b!, key, 'old');
  assert.is(written.status, 201, JSON.stringify(written.body));
  await heldByShard(before, key, written.body['causal-metadata'], 'old');

  // b restarts (a new life; sharded nodes keep their data in memory, and get it back from the
  // other members); its old life in shard 2's group ends and is retired there.
  const oldLife = Object.keys(written.body['causal-metadata']).find((id) => id.startsWith(`${b}/`))!;
  assert.ok(oldLife, JSON.stringify(written.body));
  const index = nodes.indexOf(b!); // replicas were started in the order of nodes
  await replicas[index]!.kill('SIGKILL');
  replicas[index] = await startReplica({ address: b!, view: nodes, env: { SHARD_COUNT: '2', RETIRE_AFTER_MS: '300' } });
  await waitFor("b's old life to be retired in shard 2", async () => {
    const statuses = await Promise.all(membersOf(before, 2).map((member) => request('GET', member, '/internal/shard/status')));
    return statuses.every((status) => status.body.joined === true && status.body.clock !== undefined && status.body.clock[oldLife] === undefined);
  }, 30_000, 200);
  await heldByShard(before, key, null, 'old');

  // A reshard to 3 shards, nothing failing: the key moves from shard 2 to shard 3.
  const resharded = await request('PUT', nodes[0]!, '/shard/reshard', { 'shard-count': 3 }, { timeoutMs: 60_000 });
  assert.is(resharded.status, 200, JSON.stringify(resharded.body));
  const handing = await Promise.all(membersOf(before, 2).map(async (member) => (await request('GET', member, '/debug/state')).body.sharding?.handingOff));
  // Nothing is stranded (strand runs as the map is adopted, within the reshard): nothing can come
  // later to overwrite the client's write, so it is read back at once.
  assert.equal(handing, [0, 0, 0], 'no member of shard 2 has writes to hand on after a fault-free reshard');

  // A client writes the key at its new shard right away, without reading it first.
  const target = membersOf(next, 3)[0]!;
  const later = await put(target, key, 'new');
  assert.ok(later.status === 200 || later.status === 201, JSON.stringify(later.body));
  const read = await get(target, key, later.body['causal-metadata']);
  assert.is(read.body.value, 'new', `the client's own write was overwritten by the exported value handed on again (writes stranded at shard 2's members right after the reshard: ${JSON.stringify(handing)})`);
});

test.run();
