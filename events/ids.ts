import { ValidationError } from './validation-error.ts';

/** A replica's network identity as the others reach it: `host:port`. */
export type Address = string & { readonly __brand: 'Address' };

/**
 * The identity that events carry: one per replica *life*. A restarted replica gets a new
 * incarnation, so it can never reuse an (origin, seq) pair that its previous life handed out.
 * Written `address/incarnation`.
 */
export type ReplicaId = string & { readonly __brand: 'ReplicaId' };

const addressPattern = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?):(\d{1,5})$/;
/**
 * An incarnation: 1 to 16 characters of [0-9a-z] (the base: a life's start), and for the life of a
 * node in a shard, `-<shard id>.<epoch the shard was formed>` (its group tag, see `groupOf`).
 */
const incarnationPattern = /^[0-9a-z]{1,16}(?:-[1-9][0-9]{0,5}\.[1-9][0-9]{0,8})?$/;

export function parseAddress(input: unknown, what = 'socket-address'): Address {
  if (typeof input !== 'string') throw new ValidationError(`${what} must be a string of the form IP:PORT`);
  if (validAddresses.has(input)) return input as Address;
  const match = addressPattern.exec(input);
  const port = match ? Number(match[2]) : 0;
  if (!match || port < 1 || port > 65535 || (numericHostPattern.test(match[1]!) && !isIpv4(match[1]!))) {
    throw new ValidationError(`${what} must be of the form IP:PORT (or HOST:PORT), got ${JSON.stringify(input).slice(0, 80)}`);
  }
  validAddresses.add(input);
  return input as Address;
}

/** A host of digits and dots is meant as an IPv4 address (no top-level domain is numeric): it must be one. */
const numericHostPattern = /^[0-9.]+$/;

function isIpv4(host: string): boolean {
  const octets = host.split('.');
  return octets.length === 4 && octets.every((octet) => /^(0|[1-9][0-9]{0,2})$/.test(octet) && Number(octet) <= 255);
}

export function parseIncarnation(input: unknown): string {
  if (typeof input !== 'string' || !incarnationPattern.test(input)) {
    throw new ValidationError('incarnation must be 1 to 16 characters of [0-9a-z], then optionally -<shard>.<epoch>');
  }
  return input;
}

export function replicaId(address: Address, incarnation: string): ReplicaId {
  return `${address}/${incarnation}` as ReplicaId;
}

/** Splits and checks an origin id; throws ValidationError when it is not one this store makes. */
export function parseReplicaId(input: unknown): ReplicaId {
  if (typeof input !== 'string') throw new ValidationError('replica id must be a string');
  if (validReplicaIds.has(input)) return input as ReplicaId;
  const slash = input.lastIndexOf('/');
  if (slash < 0) throw new ValidationError(`not a replica id: ${JSON.stringify(input).slice(0, 80)}`);
  parseAddress(input.slice(0, slash), 'replica id address');
  parseIncarnation(input.slice(slash + 1));
  validReplicaIds.add(input);
  return input as ReplicaId;
}

/**
 * Strings already checked. Every event carries a clock of the same few ids, and every push and
 * push answer names its sender, so without this a snapshot of 100,000 keys, or a stream of
 * pushes, would run the same regular expressions hundreds of thousands of times. Bounded: emptied
 * when full, so hostile input cannot grow it.
 */
class ValidStrings {
  private readonly strings = new Set<string>();

  constructor(private readonly max: number) {}

  has(input: string): boolean {
    return this.strings.has(input);
  }

  add(input: string): void {
    if (this.strings.size >= this.max) this.strings.clear();
    this.strings.add(input);
  }
}

// Marked pure so that a bundle using none of the parsers (the debug page's script) leaves them out.
const validAddresses = /* @__PURE__ */ new ValidStrings(4096);
const validReplicaIds = /* @__PURE__ */ new ValidStrings(4096);

export function addressOf(id: ReplicaId): Address {
  return id.slice(0, id.lastIndexOf('/')) as Address;
}

export function incarnationOf(id: ReplicaId): string {
  return id.slice(id.lastIndexOf('/') + 1);
}

/**
 * The replica group a life belongs to: '' for an unsharded store, else `<shard id>.<epoch the shard
 * was formed>` (a shard removed by a reshard and made again later is another group). Every clock
 * entry names its group, so a node checks a client's metadata only against its own group's
 * entries and passes the others through (docs/API.md "Sharding": one token covers all shards).
 */
export function groupOf(id: ReplicaId): string {
  const dash = id.indexOf('-', id.lastIndexOf('/'));
  return dash < 0 ? '' : id.slice(dash + 1);
}

/** The group tag of an incarnation ('' when it has none). */
export function groupOfIncarnation(incarnation: string): string {
  const dash = incarnation.indexOf('-');
  return dash < 0 ? '' : incarnation.slice(dash + 1);
}

/** The group tag of shard `id` formed at epoch `since`. */
export function groupTag(shardId: number, since: number): string {
  return `${shardId}.${since}`;
}
