// Layer 2 of DESIGN.md: many seeded runs of a simulated cluster under a faulty network.
//   SIM_SEED=123      replay one seed (with SIM_TRACE=1 to print its trace)
//   SIM_SEEDS=1000    how many random seeds to run (default 200)
//   SIM_FIRST_SEED=n  where the random seeds start (default 1)
//   SIM_CHAOS_MS=n    length of the fault phase of the random seeds (default: 6 to 12 s, drawn per seed)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulationFailure, summarize, type SimReport } from './report.ts';
import { World, type SimOptions } from "./world.ts";

const replaySeed = process.env.SIM_SEED === undefined ? undefined : Number(process.env.SIM_SEED);
const seedCount = Number(process.env.SIM_SEEDS ?? 200);
const firstSeed = Number(process.env.SIM_FIRST_SEED ?? 1);
const trace = process.env.SIM_TRACE === '1';
const chaosMs = process.env.SIM_CHAOS_MS === undefined ? undefined : Number(process.env.SIM_CHAOS_MS);

function simulate(options: SimOptions): SimReport {
  return new World({ trace, ...options }).run();
}

if (replaySeed !== undefined) {
  test(`seed ${replaySeed} replays`, () => {
    const report = simulate({ seed: replaySeed, ...(chaosMs === undefined ? {} : { chaosMs }) });
    console.log(JSON.stringify(report));
  });
} else {
  test(`${seedCount} random seeds keep causal delivery and causal reads, and converge after the faults end`, () => {
    const reports: SimReport[] = [];
    const failures: SimulationFailure[] = [];
    for (let seed = firstSeed; seed < firstSeed + seedCount; seed++) {
      try {
        reports.push(simulate({ seed, ...(chaosMs === undefined ? {} : { chaosMs }) }));
      } catch (error) {
        if (!(error instanceof SimulationFailure)) throw error;
        failures.push(error);
      }
    }
    console.log(`\n  ${summarize(reports)}`);
    if (failures.length > 0) {
      const seeds = failures.map((failure) => failure.seed).join(', ');
      throw new Error(`${failures.length} of ${seedCount} seeds failed (${seeds}); the first:\n${failures[0]!.message}`);
    }
    assert.ok(reports.some((report) => report.snapshotsPushed > 0), 'some seeds needed a snapshot');
    assert.ok(reports.some((report) => report.crashes > 0), 'some seeds crashed replicas');
    assert.ok(reports.some((report) => report.heldDownReplies > 0), 'some seeds met a held-down link');
  });

  test('the same seed replays the same run', () => {
    const a = simulate({ seed: 4242 });
    const b = simulate({ seed: 4242 });
    assert.equal(a, b);
  });

  test('a fault-free cluster converges at once', () => {
    const report = simulate({ seed: 7, faults: false, replicas: 3, clients: 4, chaosMs: 5000 });
    assert.is(report.crashes, 0);
    assert.is(report.snapshotsPushed, 0);
    assert.ok(report.convergedAfterMs <= 1000, `converged after ${report.convergedAfterMs} ms`);
  });

  test('a replica cut off long enough to be compacted past catches up by a snapshot', () => {
    for (let seed = 1; seed <= 10; seed++) {
      let isolated = '';
      const world = new World({
        seed: 10_000 + seed,
        trace,
        replay: `npx tsx test/simulation/simulation.test.ts (scenario "cut off long enough", seed ${10_000 + seed})`,
        faults: false,
        replicas: 3,
        clients: 4,
        chaosMs: 16_000,
        script: (w) => {
          w.schedule(2000, () => {
            const node = w.nodeAt(2);
            isolated = node.address;
            w.partition([node], 12_000);
          });
        },
      });
      const report = world.run();
      assert.ok((world.snapshotsTo.get(isolated as never) ?? 0) > 0, `seed ${10_000 + seed}: the isolated replica was sent a snapshot`);
      assert.ok(report.compactedEvents > 0);
    }
  });

  test('a replica re-attached after a cut stays honest: it takes no events from the others for the hold-down time, then catches up', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const cutAt = 3000;
      const cutMs = 3000;
      let held = 0;
      const world = new World({
        seed: 30_000 + seed,
        trace,
        replay: `npx tsx test/simulation/simulation.test.ts (scenario "re-attached", seed ${30_000 + seed})`,
        faults: false,
        replicas: 3,
        clients: 4,
        chaosMs: 16_000,
        script: (w) => {
          const node = w.nodeAt(2);
          w.schedule(cutAt, () => w.partition([node], cutMs));
          const healAt = cutAt + cutMs;
          // The last failure each side saw is at most a probe interval and a timeout before the heal.
          const windowMs = w.settings.linkHoldDownMs - w.settings.suspectProbeIntervalMs - 850;
          let atHeal: Record<string, number> = {};
          w.schedule(healAt, () => {
            atHeal = { ...node.replica!.clock };
          });
          for (let t = healAt + 50; t < healAt + windowMs; t += 50) {
            w.schedule(t, () => {
              const replica = node.replica!;
              for (const [origin, seq] of Object.entries(replica.clock)) {
                if (origin === replica.id) continue;
                assert.ok(seq <= (atHeal[origin] ?? 0), `seed ${30_000 + seed}: ${t - healAt} ms after the heal the re-attached replica delivered ${origin}#${seq}`);
              }
              held++;
            });
          }
        },
      });
      world.run();
      if (world.settings.linkHoldDownMs > 2000) assert.ok(held > 0, 'the window was checked');
    }
  });

  test('a restarted replica joins by snapshot, is not held down once it announced itself, and converges', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const world = new World({
        seed: 20_000 + seed,
        trace,
        replay: `npx tsx test/simulation/simulation.test.ts (scenario "restarted", seed ${20_000 + seed})`,
        faults: false,
        replicas: 4,
        clients: 3,
        chaosMs: 12_000,
        script: (w) => {
          const node = w.nodeAt(1);
          w.schedule(3000, () => w.kill(node));
          // Restart before the others have given up on it and after: both must work.
          w.schedule(seed % 2 === 0 ? 3400 : 6000, () => w.restart(node));
          // Soon after it has joined, nobody may hold it down: it announced a new life.
          w.schedule(9000, () => {
            const restarted = node.replica!;
            for (const other of w.nodes) {
              if (other === node) continue;
              const peer = other.replica!.describe(w.now).peers.find((p) => p.address === node.address)!;
              assert.is(peer.incarnation, restarted.incarnation, `seed ${20_000 + seed}: ${other.address} knows the new life`);
              assert.is.not(peer.link.state, 'held-down', `seed ${20_000 + seed}: ${other.address} holds the restarted replica down`);
              assert.ok(peer.inView, `seed ${20_000 + seed}: ${other.address} has it in its view`);
            }
          });
        },
      });
      const report = world.run();
      assert.is(report.crashes, 1);
    }
  });
}

test.run();
