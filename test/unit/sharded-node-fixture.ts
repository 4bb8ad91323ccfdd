// A ShardedNode with no network, no timers and no clock (time stands at 0): its life is driven
// through its core, and maps through adopt, commit and noteQuiesced, as the steps would.
import pino from 'pino';
import type { Address } from '../../events/ids.ts';
import type { ShardMap } from '../../events/shard-map.ts';
import { ReplicaNode } from '../../src/node/replica-node.ts';
import { ShardedNode } from '../../src/shard/sharded-node.ts';
import { MemoryStorage } from '../../src/storage/memory-storage.ts';
import { testLimits, testSettings } from './support.ts';

export function shardedNodeAt(self: Address, view: readonly Address[], map: ShardMap): ShardedNode {
  const timers = { after: () => ({ cancel: () => {} }), soon: () => {} };
  const log = pino({ level: 'silent' });
  return new ShardedNode({
    self,
    map,
    view,
    limits: testLimits,
    timers,
    clock: { now: () => 0 },
    log,
    askReshardRunning: async () => undefined,
    makeNode: (group, groupView) =>
      new ReplicaNode({
        config: { socketAddress: self, view: groupView, causalWaitMs: 1000, limits: testLimits, settings: testSettings },
        incarnation: group === undefined ? 'b1' : `b1-${group}`,
        boot: 'b1',
        clock: { now: () => 0 },
        timers,
        transport: { send: () => {}, close: () => {} },
        storage: new MemoryStorage(),
        log,
      }),
  });
}
