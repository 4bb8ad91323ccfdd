import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { portBase, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import { checkClientReads, checkConvergedValues, Client, exitSoon, History, hostsOf, Load, Rng, seedFrom, startClusterPatiently, summarize, tailLogs, until, watchdog } from '../support/fault-kit.ts';
import { request, sleep } from '../support/http.ts';
import { assertPrivateNamespace, healAll, isolate } from '../support/netns.ts';

// A sharded store (6 nodes, SHARD_COUNT=2) with one member of a shard cut off from every other node
// (nft rules on the nodes' uids: the test's clients still reach it) while clients roaming over every
// node and both shards write and read with one metadata token each. During the cut the other
// shard's nodes forward past the cut member; after the heal every node answers every key alike, no
// acknowledged write is lost, and every client's reads are causal at every node.

assertPrivateNamespace();
watchdog(200_000, 'shard-partition');

const { hosts, addresses, uids } = hostsOf(6, portBase('shard-partition'));
let replicas: ReplicaProcess[] = [];

test.after(async () => {
  healAll();
  await stopAll(replicas);
  exitSoon();
});

test('a shard member cut off from the cluster and healed: forwarding passes it over, nothing acknowledged is lost, reads stay causal across shards', async () => {
  replicas = await startClusterPatiently(addresses, uids, { SHARD_COUNT: '2' });
  const rng = new Rng(seedFrom('shard-partition'));
  const history = new History();
  const clients = Array.from({ length: 6 }, (_, i) => new Client(`r${i}`, history));
  const keysOf = (client: Client) => Array.from({ length: 6 }, (_, k) => `${client.name}-k${k}`);
  const everyKey = clients.flatMap(keysOf);
  // Reads go to any client's keys: a client's past then spans both shards and other clients' writes.
  // During the cut clients go to the other nodes, as a client does when a node stops answering.
  let targets = addresses;
  const load = new Load({ clients, rng, target: () => rng.pick(targets), keys: keysOf, readKeys: () => everyKey, readShare: 0.4, pauseMs: 10 }, 60_000);
  await until(() => history.ackedCount() >= 60, 15_000);

  const members = (await request('GET', addresses[0]!, '/shard/members/1')).body['shard-members'] as string[];
  const cut = addresses.indexOf(rng.pick(members));
  const others = addresses.filter((_, i) => i !== cut);
  isolate(hosts[cut]!, hosts.filter((_, i) => i !== cut));
  targets = others;
  const cutAt = Date.now();
  console.log(`# cut ${addresses[cut]} (shard 1) off from the other nodes (${history.ackedCount()} writes acknowledged)`);
  await sleep(4000);
  // Requests to the other nodes, both shards' keys, were served during the cut: forwarding passed the cut member over.
  const servedElsewhere = clients.flatMap((c) => c.ops).filter((op) => op.ok && op.startedAt >= cutAt + 1000 && others.includes(op.address)).length;
  assert.ok(servedElsewhere >= 20, `only ${servedElsewhere} requests were served by the nodes that were not cut off`);

  healAll();
  targets = addresses;
  const ackedAtHeal = history.ackedCount();
  await until(() => history.ackedCount() >= ackedAtHeal + 40, 15_000);
  await load.stop();
  console.log(`# load: ${summarize(clients)}`);

  let problems: string[] = [];
  for (let tries = 0; tries < 40; tries++) {
    problems = await checkConvergedValues(addresses, history);
    if (problems.length === 0) break;
    await sleep(500);
  }
  assert.equal(problems, [], `after the heal:\n${problems.slice(0, 10).join('\n')}\n${tailLogs(replicas, 15)}`);
  const reads = await checkClientReads(addresses, history, clients, () => everyKey.filter((_, i) => i % 3 === 0));
  assert.equal(reads, [], reads.slice(0, 10).join('\n'));
  assert.equal(history.violations, [], history.violations.slice(0, 10).join('\n'));
});

test.run();
