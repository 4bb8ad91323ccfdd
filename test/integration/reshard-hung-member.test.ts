// A reshard with a member of the destination shard that accepts connections and never answers
// (paused with SIGSTOP): the coordinator imports at a member its commit reached, tries the next
// member once one takes over importCallTimeoutMs, and the reshard succeeds (found by review: the hung
// first member used to take the whole 30 s import budget, and the reshard answered 503 after commit).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { get, put, request } from '../support/http.ts';
import { heldByShard, keyMoving, sixShardedNodes } from '../support/reshard-setup.ts';

const replicas: ReplicaProcess[] = [];
test.after(async () => {
  for (const r of replicas) if (r.running) process.kill(r.pid, 'SIGCONT');
  await stopAll(replicas);
});

test('a reshard whose first destination member hangs imports at another member and succeeds', async () => {
  // n1, the first member of shard 1, is where reshard.ts imported first before the fix.
  const { nodes, n1, before, next } = await sixShardedNodes(replicas, 80, 3, 2);
  const key = keyMoving('in', before, next, 3, 1);
  const w1 = await put(nodes[2]!, key, 'v1');
  assert.is(w1.status, 201, JSON.stringify(w1.body));
  await heldByShard(before, key, w1.body['causal-metadata'], 'v1');

  process.kill(replicas[0]!.pid, 'SIGSTOP');
  const answer = await request('PUT', nodes[1]!, '/shard/reshard', { 'shard-count': 2 }, { timeoutMs: 60_000 });
  // docs/API.md: "a member that fails is replaced by the next one, for 30 s at most".
  assert.is(answer.status, 200, JSON.stringify(answer.body));
  const member = next.shards[0]!.members.find((address) => address !== n1)!;
  const read = await get(member, key, w1.body['causal-metadata']);
  assert.is(read.status, 200, JSON.stringify(read.body));
  assert.is(read.body.value, 'v1', 'the key arrived at its new shard');
});

test.run();
