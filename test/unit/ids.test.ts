import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addressOf, incarnationOf, parseAddress, parseIncarnation, parseReplicaId, replicaId, type Address } from '../../events/ids.ts';
import { rejects } from './support.ts';

test('parseAddress() accepts IPv4, host names and bracketed IPv6 with a port', () => {
  for (const input of ['10.10.0.2:8090', '127.0.0.1:1', 'localhost:65535', 'replica-1.example:80', '[::1]:8090', 'a:1']) {
    assert.is(parseAddress(input), input);
  }
});

test('parseAddress() refuses what is not HOST:PORT, naming the field', () => {
  rejects(() => parseAddress(42), /socket-address must be a string/);
  rejects(() => parseAddress('10.0.0.1'), /socket-address must be of the form IP:PORT/);
  rejects(() => parseAddress('10.0.0.1:0'), /IP:PORT/);
  rejects(() => parseAddress('10.0.0.1:65536'), /IP:PORT/);
  rejects(() => parseAddress(':8090'), /IP:PORT/);
  rejects(() => parseAddress('-bad:8090'), /IP:PORT/);
  rejects(() => parseAddress('host:80 '), /IP:PORT/);
  rejects(() => parseAddress('999.1.1.1:8090'), /IP:PORT/);
  rejects(() => parseAddress('10.0.0:8090'), /IP:PORT/);
  rejects(() => parseAddress('10.0.0.1.2:8090'), /IP:PORT/);
  rejects(() => parseAddress('10.0.0.01:8090'), /IP:PORT/);
});

test('parseAddress() names the field it checks in its message', () => {
  rejects(() => parseAddress('nope', 'view member'), /^view member must be of the form/);
});

test('parseIncarnation() accepts 1 to 16 lower-case alphanumerics only', () => {
  assert.is(parseIncarnation('a'), 'a');
  assert.is(parseIncarnation('0123456789abcdef'), '0123456789abcdef');
  rejects(() => parseIncarnation(''), /incarnation must be 1 to 16 characters/);
  rejects(() => parseIncarnation('0123456789abcdefg'), /incarnation/);
  rejects(() => parseIncarnation('ABC'), /incarnation/);
  rejects(() => parseIncarnation(7), /incarnation/);
});

test('replicaId(), addressOf() and incarnationOf() round-trip through parseReplicaId()', () => {
  const address = '10.0.0.1:8090' as Address;
  const id = replicaId(address, 'k3x');
  assert.is(id, '10.0.0.1:8090/k3x');
  assert.is(parseReplicaId(id), id);
  assert.is(addressOf(id), address);
  assert.is(incarnationOf(id), 'k3x');
  assert.is(addressOf(replicaId('[::1]:8090' as Address, 'z')), '[::1]:8090');
  assert.is(incarnationOf(replicaId('[::1]:8090' as Address, 'z')), 'z');
});

test('parseReplicaId() refuses ids this store does not make', () => {
  rejects(() => parseReplicaId(1), /replica id must be a string/);
  rejects(() => parseReplicaId('10.0.0.1:8090'), /not a replica id/);
  rejects(() => parseReplicaId('10.0.0.1/abc'), /replica id address must be of the form/);
  rejects(() => parseReplicaId('10.0.0.1:8090/'), /incarnation/);
  rejects(() => parseReplicaId('10.0.0.1:8090/UPPER'), /incarnation/);
});

test.run();
