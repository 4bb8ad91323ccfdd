import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { portBase, stopAll, type ReplicaProcess } from '../support/cluster.ts';
import {
  caughtUp,
  checkClientReads,
  checkConvergedValues,
  Client,
  converged,
  History,
  hostsOf,
  Load,
  measure,
  median,
  Rng,
  summarize,
  tailLogs,
  timeUntil,
  unheldDependencies,
  viewsAre,
  watchdog,
  startClusterPatiently,
  startPatiently,
  exitSoon,
  until,
  replayCommand,
} from '../support/fault-kit.ts';
import { sleep } from '../support/http.ts';
import { assertPrivateNamespace, healAll, isolate } from '../support/netns.ts';

// A seeded random nemesis over three replicas while clients read and write: kill -9 and restart
// a replica, cut one off both ways and heal. One fault at a time (the store promises to tolerate
// one crash): a restarted or healed replica must have caught up before the next fault. Then
// everything is healed and up: views and data must converge within a bound, and every
// acknowledged write must have survived.
//
// Seeds: SEED=<n>[,<n>...] replays; otherwise three fresh seeds, printed. The schedule of
// faults follows the seed exactly; the clients' interleaving depends on timing as well. The faults
// end with one still in force, and the final phase measures convergence from healing it.
// NEMESIS_MS sets how long each seed's faults run (default 22000).

assertPrivateNamespace();

const holdDownMs = 5000; // LINK_HOLD_DOWN_MS default
const finalBoundMs = holdDownMs + 5000;
const faultsMs = Number(process.env.NEMESIS_MS ?? 22_000);
const seeds =
  process.env.SEED !== undefined && process.env.SEED !== ''
    ? process.env.SEED.split(',').map((s) => Number(s) >>> 0)
    : Array.from({ length: 3 }, () => (Math.random() * 0xffffffff) >>> 0);
console.log(`# nemesis seeds: ${seeds.join(', ')} (replay one: ${replayCommand(seeds[0]!)})`);
watchdog(seeds.length * (faultsMs + 60_000) + 20_000, 'nemesis');

let running: ReplicaProcess[] = [];
const started: ReplicaProcess[] = [];

test.after.each(async () => {
  healAll();
  await stopAll(started.splice(0));
  running = [];
});

const samples = { detection: [] as number[], rejoin: [] as number[], heal: [] as number[], final: [] as number[] };

for (const [run, seed] of seeds.entries()) {
  test(`nemesis seed ${seed}: random kills, restarts and partitions lose no acknowledged write, and all converge`, async () => {
    console.log(`# nemesis seed ${seed}`);
    const { hosts, addresses, uids } = hostsOf(3, portBase('nemesis') + run);
    running = await startClusterPatiently(addresses, uids);
    started.push(...running);
    const nemesis = new Rng(seed);
    const rng = new Rng(seed ^ 0x9e3779b9);
    const history = new History();
    const shared = ['s0', 's1', 's2'];
    const clients = Array.from({ length: 4 }, (_, i) => new Client(`n${i}`, history));
    const ownKeys = (client: Client) => [0, 1, 2, 3].map((k) => `${client.name}-k${k}`);
    const load = new Load(
      {
        clients,
        rng,
        target: () => rng.pick(addresses),
        keys: (client) => (rng.next() < 0.3 ? shared : ownKeys(client)),
        readKeys: (client) => [...ownKeys(client), ...shared],
        readShare: 0.3,
        pauseMs: 10,
      },
      faultsMs + 30_000,
    );

    const log: string[] = [];
    const note = (text: string) => {
      log.push(`${((Date.now() - startedAt) / 1000).toFixed(1)}s ${text}`);
      console.log(`#   ${log.at(-1)}`);
    };
    const startedAt = Date.now();
    let down: number | undefined;
    let cut: number | undefined;

    const restart = async (index: number) => {
      const at = Date.now();
      const others = addresses.filter((_, i) => i !== index);
      const catchUp = await caughtUp(others, [addresses[index]!]);
      const replica = await startPatiently({ address: addresses[index]!, view: addresses, uid: uids[index]! });
      started.push(replica);
      running[index] = replica;
      const healthyAt = Date.now();
      await timeUntil(`${addresses[index]} to rejoin every view`, viewsAre(addresses, addresses), 10_000, 25);
      await timeUntil(`${addresses[index]} to catch up`, catchUp, 10_000, 25);
      samples.rejoin.push(measure('nemesis rejoin (from /health)', Date.now() - healthyAt));
      note(`restarted ${addresses[index]}: answering after ${healthyAt - at} ms, rejoined and caught up ${Date.now() - healthyAt} ms later`);
    };

    try {
      // Faults until the time is up, ending with one still in force, so that the final phase
      // always has something to heal or restart.
      for (;;) {
        await sleep(nemesis.int(500, 2500));
        const over = Date.now() - startedAt >= faultsMs;
        if (over && (down !== undefined || cut !== undefined)) break;
        if (down !== undefined) {
          await restart(down);
          down = undefined;
        } else if (cut !== undefined) {
          const at = Date.now();
          healAll();
          // Before the next fault, everyone holds what anyone held at the heal.
          await timeUntil('all to catch up after the heal', await caughtUp(addresses), finalBoundMs, 25);
          samples.heal.push(measure('nemesis catch-up after heal', Date.now() - at));
          note(`healed ${addresses[cut]}: all caught up after ${Date.now() - at} ms`);
          cut = undefined;
        } else {
          const victim = nemesis.int(0, addresses.length - 1);
          const others = addresses.filter((_, i) => i !== victim);
          if (nemesis.next() < 0.5) {
            const at = Date.now();
            await running[victim]!.kill('SIGKILL');
            down = victim;
            await timeUntil(`${addresses[victim]} to leave every view`, viewsAre(others, others), 10_000, 25);
            samples.detection.push(measure('nemesis detection (kill -9)', Date.now() - at));
            note(`killed ${addresses[victim]}: gone from every view after ${Date.now() - at} ms`);
          } else {
            isolate(hosts[victim]!, hosts.filter((_, i) => i !== victim));
            cut = victim;
            note(`cut ${addresses[victim]} off`);
          }
        }
      }
    } catch (error) {
      await load.stop();
      throw new Error(`seed ${seed} (replay: ${replayCommand(seed)}): ${String(error)}\nnemesis so far:\n${log.join('\n')}\n${tailLogs(running)}`);
    }

    // Final phase: clients stop, everything heals and comes up, and all must converge.
    await load.stop();
    console.log(`# load: ${summarize(clients)}`);
    healAll();
    if (down !== undefined) {
      const replica = await startPatiently({ address: addresses[down]!, view: addresses, uid: uids[down]! });
      started.push(replica);
      running[down] = replica;
      note(`final: restarted ${addresses[down]}`);
    }
    if (cut !== undefined) note(`final: healed ${addresses[cut]}`);
    let finalMs: number;
    try {
      finalMs = await timeUntil('views and data to converge with everything healed and up', converged(addresses), finalBoundMs + 10_000, 25);
    } catch (error) {
      throw new Error(`seed ${seed} (replay: ${replayCommand(seed)}): ${String(error)}\nnemesis:\n${log.join('\n')}\n${tailLogs(running)}`);
    }
    samples.final.push(measure('nemesis final convergence', finalMs));

    const problems = [...(await checkConvergedValues(addresses, history))];
    const reads = await checkClientReads(addresses, history, clients, (client) => [...ownKeys(client), ...shared]);
    for (const client of clients) {
      const lost = await unheldDependencies(addresses, client.metadata);
      if (lost.length > 0) reads.push(`${client.name} depends on events no replica holds: ${lost.join(', ')}`);
    }
    problems.push(...reads, ...history.violations);
    assert.equal(problems, [], `seed ${seed} (replay: ${replayCommand(seed)}): ${problems.length} problems:\n${problems.slice(0, 20).join('\n')}\nnemesis:\n${log.join('\n')}`);
    assert.ok(history.ackedCount() >= 30, `seed ${seed} (replay: ${replayCommand(seed)}): too few acknowledged writes (${history.ackedCount()})`);
    assert.ok(finalMs <= finalBoundMs, `seed ${seed} (replay: ${replayCommand(seed)}): final convergence took ${finalMs} ms (bound ${finalBoundMs} ms)`);
  });
}

test.after(() => {
  const show = (values: number[]) => (values.length === 0 ? 'none' : `median ${median(values)} ms, max ${Math.max(...values)} ms, n=${values.length}`);
  console.log(`# nemesis detection: ${show(samples.detection)}`);
  console.log(`# nemesis rejoin after restart (from /health): ${show(samples.rejoin)}`);
  console.log(`# nemesis catch-up after heal: ${show(samples.heal)}`);
  console.log(`# nemesis final convergence: ${show(samples.final)}`);
  exitSoon();
});

test.run();
