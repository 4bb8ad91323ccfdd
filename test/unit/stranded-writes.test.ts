import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { KvEvent } from '../../events/kv-event.ts';
import type { ReplicaId } from '../../events/ids.ts';
import { StrandedWrites } from '../../src/shard/stranded-writes.ts';

const origin = '127.0.0.2:8090/a1-1.1' as ReplicaId;
const cut = { quiesced: { epoch: 2, clock: {} } };
const at = (epoch: number) => ({ epoch, clock: {} });
const event = (seq: number, key = `k${seq}`): KvEvent => Object.freeze({ type: 'put', origin, seq, key, value: seq, clock: { [origin]: seq } });

test('a batch per stranding, oldest first; an event twice in one is held once; handed-on events go, and an emptied batch with them', () => {
  const stranded = new StrandedWrites();
  assert.is(stranded.add('1.1', origin, [event(1), event(2), event(2)], 100, cut), 0);
  assert.is(stranded.add('2.1', origin, [event(3)], 200, cut), 0);
  assert.is(stranded.size, 3);
  const [first, second] = stranded.ready();
  assert.is(first!.group, '1.1');
  assert.is(first!.since, 100);
  assert.is(first!.life, origin);
  assert.equal(first!.quiesced, cut.quiesced);
  assert.equal([...first!.events.values()].map((e) => e.seq), [1, 2]);
  stranded.remove(first!, [event(1), event(1)]);
  assert.is(stranded.size, 2, 'an event removed twice counts once');
  stranded.remove(first!, [event(2)]);
  assert.equal(stranded.ready(), [second]);
  stranded.remove(second!, [event(3)]);
  assert.equal(stranded.all(), []);
  assert.is(stranded.size, 0);
  assert.is(stranded.add('3.1', origin, [], 400, cut), 0);
  assert.equal(stranded.all(), [], 'no empty batch is kept');
});

test('a batch awaiting a quiesced clock is not ready; a clock of a later reshard cuts it down to what it did not take; an earlier one does not', () => {
  const stranded = new StrandedWrites();
  stranded.add('1.1', origin, [event(1), event(2), event(3)], 100, { awaitingClockAfter: 4 });
  assert.equal(stranded.ready(), []);
  assert.is(stranded.confirm('1.1', at(4), () => true), 0, 'a reshard at the epoch the node followed is not the one it missed');
  assert.is(stranded.confirm('2.1', at(5), () => true), 0, 'another group');
  assert.equal(stranded.ready(), []);
  assert.is(stranded.confirm('1.1', at(5), (e) => e.seq === 1), 2);
  const [batch] = stranded.ready();
  assert.equal([...batch!.events.values()].map((e) => e.seq), [2, 3]);
  assert.equal(batch!.quiesced, at(5), 'sent with the clock it was cut down with');
  assert.is(stranded.size, 2);
  stranded.add('1.1', origin, [event(4)], 200, { awaitingClockAfter: 4 });
  assert.is(stranded.confirm('1.1', at(5), () => true), 0, 'all taken: the batch goes');
  assert.is(stranded.all().length, 1);
});

test.run();
