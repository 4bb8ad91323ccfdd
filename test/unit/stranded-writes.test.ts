import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { KvEvent } from '../../events/kv-event.ts';
import type { ReplicaId } from '../../events/ids.ts';
import { StrandedWrites } from '../../src/shard/stranded-writes.ts';

const origin = '127.0.0.2:8090/a1-1.1' as ReplicaId;
const event = (seq: number, key = `k${seq}`): KvEvent => Object.freeze({ type: 'put', origin, seq, key, value: seq, clock: { [origin]: seq } });

test('batches per group, oldest first; an event stranded twice is held once; handed-on events go, and an emptied batch with them', () => {
  const stranded = new StrandedWrites();
  assert.is(stranded.add('1.1', [event(1), event(2)], 100), 0);
  assert.is(stranded.add('2.1', [event(3)], 200), 0);
  assert.is(stranded.add('1.1', [event(2), event(4)], 300), 0);
  assert.is(stranded.size, 4);
  const first = stranded.first()!;
  assert.is(first.group, '1.1');
  assert.is(first.since, 100, 'a batch is as old as its first events');
  assert.equal([...first.events.values()].map((e) => e.seq), [1, 2, 4]);
  stranded.remove(first, [event(1), event(4)]);
  assert.is(stranded.size, 2);
  stranded.remove(first, [event(2), event(2)]);
  assert.is(stranded.size, 1, 'an event removed twice counts once');
  assert.is(stranded.first()!.group, '2.1');
  stranded.remove(stranded.first()!, [event(3)]);
  assert.is(stranded.first(), undefined);
  assert.is(stranded.size, 0);
  assert.is(stranded.add('3.1', [], 400), 0);
  assert.is(stranded.first(), undefined, 'no empty batch is kept');
});

test.run();
