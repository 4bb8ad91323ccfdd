import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FailureDetector } from '../../src/core/failure-detector.ts';
import { testSettings } from './support.ts';

const { probeIntervalMs, suspectProbeIntervalMs, probeMissesMax } = testSettings;

test('the first probe is due at once, and only one is in flight at a time', () => {
  const detector = new FailureDetector(testSettings, 100);
  assert.is(detector.dueAt(), 100);
  assert.not.ok(detector.takeProbe(99));
  assert.ok(detector.takeProbe(100));
  assert.not.ok(detector.takeProbe(5000), 'one in flight');
  assert.is(detector.dueAt(), undefined);
});

test('an answer clears the misses and schedules the next probe one interval later', () => {
  const detector = new FailureDetector(testSettings, 0);
  detector.takeProbe(0);
  detector.onMiss(10, true);
  detector.takeProbe(detector.dueAt()!);
  detector.onAnswer(300);
  assert.is(detector.misses, 0);
  assert.is(detector.dueAt(), 300 + probeIntervalMs);
});

test('misses are counted, each followed by a sooner probe, and the peer is suspected at probeMissesMax', () => {
  const detector = new FailureDetector(testSettings, 0);
  const suspected: boolean[] = [];
  for (let i = 1; i <= probeMissesMax + 1; i++) {
    assert.ok(detector.takeProbe(detector.dueAt()!));
    suspected.push(detector.onMiss(i * 1000, true));
    assert.is(detector.misses, i);
    assert.is(detector.dueAt(), i * 1000 + suspectProbeIntervalMs);
  }
  assert.equal(suspected, [false, false, true, true]);
});

test('a miss of a probe sent before the last success does not count', () => {
  const detector = new FailureDetector(testSettings, 0);
  detector.takeProbe(0);
  for (let i = 0; i < probeMissesMax + 2; i++) assert.not.ok(detector.onMiss(100 + i, false));
  assert.is(detector.misses, 0);
  assert.is(detector.dueAt(), 100 + probeMissesMax + 1 + suspectProbeIntervalMs, 'but it is probed again soon');
});

test('another answer (a push) clears the misses and puts the next probe off, unless one is in flight', () => {
  const detector = new FailureDetector(testSettings, 0);
  detector.takeProbe(0);
  detector.onMiss(10, true);
  detector.onOtherAnswer(20);
  assert.is(detector.misses, 0);
  assert.is(detector.dueAt(), 20 + probeIntervalMs);
  detector.takeProbe(detector.dueAt()!);
  detector.onOtherAnswer(2000);
  assert.is(detector.dueAt(), undefined, 'the probe in flight is left alone');
});

test('probeBy() only brings the next probe forward; restart() starts afresh one interval later', () => {
  const detector = new FailureDetector(testSettings, 0);
  detector.takeProbe(0);
  detector.onAnswer(0);
  detector.probeBy(5000);
  assert.is(detector.dueAt(), probeIntervalMs);
  detector.probeBy(5);
  assert.is(detector.dueAt(), 5);
  detector.takeProbe(5);
  detector.onMiss(10, true);
  detector.restart(50);
  assert.is(detector.misses, 0);
  assert.is(detector.nextProbeAt, 50 + probeIntervalMs);
});

test.run();
