import { parseAddress, type Address } from '../events/ids.ts';
import { defaultLimits } from '../events/limits.ts';
import { ValidationError } from '../events/validation-error.ts';
import { defaultProtocolSettings } from './core/protocol-settings.ts';
import type { NodeConfig } from './node/node-config.ts';

/** Everything a replica process is configured with, read once from the environment at start. */
export interface Config extends NodeConfig {
  readonly listenHost: string;
  readonly listenPort: number;
  /** Source address for peer requests, so per-address firewall rules match; undefined = the OS picks. */
  readonly peerSourceAddress: string | undefined;
  readonly peerConnectTimeoutMs: number;
  readonly peerRequestTimeoutMs: number;
  readonly probeTimeoutMs: number;
  readonly clusterToken: string | undefined;
  readonly logLevel: string;
  /** Where the durable log lives (DATA_DIR); undefined: everything in memory only, as the course's store. */
  readonly dataDir: string | undefined;
  /** With DATA_DIR: 'batch' acknowledges a write once it is fdatasync'ed (group commit); 'off' once handed to the OS. */
  readonly fsync: FsyncMode;
  /**
   * SHARD_COUNT: the nodes of VIEW form this many shards (docs/API.md "Sharding"). Undefined: the
   * node asks VIEW's nodes for their shard map at start, and is unsharded when none has one.
   */
  readonly shardCount: number | undefined;
}

export type FsyncMode = 'batch' | 'off';
const fsyncModes: readonly FsyncMode[] = ['batch', 'off'];

/** One documented setting: environment name, default, unit, and what it does (the README lists these). */
interface NumberSetting {
  readonly env: string;
  readonly default: number;
  readonly min: number;
}

const numberSettings = {
  causalWaitMs: { env: 'CAUSAL_WAIT_MS', default: 1000, min: 0 },
  writeAckTimeoutMs: { env: 'WRITE_ACK_TIMEOUT_MS', default: defaultProtocolSettings.writeAckTimeoutMs, min: 0 },
  peerConnectTimeoutMs: { env: 'PEER_CONNECT_TIMEOUT_MS', default: 250, min: 1 },
  peerRequestTimeoutMs: { env: 'PEER_REQUEST_TIMEOUT_MS', default: 3000, min: 1 },
  probeTimeoutMs: { env: 'PROBE_TIMEOUT_MS', default: 500, min: 1 },
  joinTimeoutMs: { env: 'JOIN_TIMEOUT_MS', default: defaultProtocolSettings.joinTimeoutMs, min: 0 },
  compactionIntervalMs: { env: 'COMPACTION_INTERVAL_MS', default: defaultProtocolSettings.compactionIntervalMs, min: 10 },
  retireAfterMs: { env: 'RETIRE_AFTER_MS', default: defaultProtocolSettings.retireAfterMs, min: 0 },
  probeIntervalMs: { env: 'PROBE_INTERVAL_MS', default: defaultProtocolSettings.probeIntervalMs, min: 10 },
  suspectProbeIntervalMs: { env: 'SUSPECT_PROBE_INTERVAL_MS', default: defaultProtocolSettings.suspectProbeIntervalMs, min: 10 },
  probeMissesMax: { env: 'PROBE_MISSES_MAX', default: defaultProtocolSettings.probeMissesMax, min: 1 },
  linkHoldDownMs: { env: 'LINK_HOLD_DOWN_MS', default: defaultProtocolSettings.linkHoldDownMs, min: 0 },
  antiEntropyIntervalMs: { env: 'ANTI_ENTROPY_INTERVAL_MS', default: defaultProtocolSettings.antiEntropyIntervalMs, min: 10 },
  logEventsMax: { env: 'LOG_EVENTS_MAX', default: defaultProtocolSettings.logEventsMax, min: 1 },
  bodyBytesMax: { env: 'BODY_BYTES_MAX', default: defaultLimits.bodyBytesMax, min: 1024 },
  valueBytesMax: { env: 'VALUE_BYTES_MAX', default: defaultLimits.valueBytesMax, min: 1 },
  clockEntriesMax: { env: 'CLOCK_ENTRIES_MAX', default: defaultLimits.clockEntriesMax, min: 1 },
  pendingEventsMax: { env: 'PENDING_EVENTS_MAX', default: defaultLimits.pendingEventsMax, min: 1 },
  pushBatchEventsMax: { env: 'PUSH_BATCH_EVENTS_MAX', default: defaultLimits.pushBatchEventsMax, min: 1 },
  peerBodyBytesMax: { env: 'PEER_BODY_BYTES_MAX', default: defaultLimits.peerBodyBytesMax, min: 1024 },
  snapshotChunkKeysMax: { env: 'SNAPSHOT_CHUNK_KEYS_MAX', default: defaultLimits.snapshotChunkKeysMax, min: 1 },
  viewMembersMax: { env: 'VIEW_MEMBERS_MAX', default: defaultLimits.viewMembersMax, min: 1 },
  causalWaitersMax: { env: 'CAUSAL_WAITERS_MAX', default: defaultLimits.causalWaitersMax, min: 0 },
} satisfies Record<string, NumberSetting>;


/** A configuration error: the process prints it on one line and exits with code 2. */
export class ConfigError extends Error {}

function readNumber(env: NodeJS.ProcessEnv, setting: NumberSetting): number {
  const raw = env[setting.env];
  if (raw === undefined || raw === '') return setting.default;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < setting.min) {
    throw new ConfigError(`${setting.env} must be an integer >= ${setting.min}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function readAddress(env: NodeJS.ProcessEnv, name: string, raw: string | undefined): Address {
  try {
    return parseAddress(raw, name);
  } catch (error) {
    if (error instanceof ValidationError) throw new ConfigError(`${name} must be IP:PORT (for example 10.10.0.2:8090), got ${JSON.stringify(raw ?? '')}`);
    throw error;
  }
}

function hostOf(address: string): string {
  return address.slice(0, address.lastIndexOf(':')).replace(/^\[|\]$/g, '');
}

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function readConfig(env: NodeJS.ProcessEnv): Config {
  if (env.SOCKET_ADDRESS === undefined || env.SOCKET_ADDRESS === '') {
    throw new ConfigError('SOCKET_ADDRESS is required: this replica\'s own IP:PORT, for example 10.10.0.2:8090');
  }
  const socketAddress = readAddress(env, 'SOCKET_ADDRESS', env.SOCKET_ADDRESS);
  if (env.VIEW === undefined) {
    throw new ConfigError('VIEW is required: comma-separated IP:PORT of all replicas, for example 10.10.0.2:8090,10.10.0.3:8090');
  }
  const view = env.VIEW.split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => readAddress(env, 'VIEW', part));
  if (view.length === 0) {
    throw new ConfigError('VIEW must list at least one IP:PORT, comma-separated, for example 10.10.0.2:8090,10.10.0.3:8090');
  }

  const numbers = Object.fromEntries(
    Object.entries(numberSettings).map(([name, setting]) => [name, readNumber(env, setting)]),
  ) as Record<keyof typeof numberSettings, number>;

  const ownHost = hostOf(socketAddress);
  const ownPort = Number(socketAddress.slice(socketAddress.lastIndexOf(':') + 1));
  let listenHost = isLoopbackHost(ownHost) ? ownHost : '0.0.0.0';
  let listenPort = ownPort;
  if (env.LISTEN_ADDRESS !== undefined && env.LISTEN_ADDRESS !== '') {
    const listen = readAddress(env, 'LISTEN_ADDRESS', env.LISTEN_ADDRESS);
    listenHost = hostOf(listen);
    listenPort = Number(listen.slice(listen.lastIndexOf(':') + 1));
  }

  const fsyncRaw = env.FSYNC ?? '';
  const fsync = fsyncRaw === '' ? 'batch' : fsyncModes.find((mode) => mode === fsyncRaw);
  if (fsync === undefined) throw new ConfigError(`FSYNC must be batch or off, got ${JSON.stringify(fsyncRaw)}`);

  const shardRaw = env.SHARD_COUNT ?? '';
  const shardCount = shardRaw === '' ? undefined : Number(shardRaw);
  if (shardCount !== undefined && (!Number.isSafeInteger(shardCount) || shardCount < 1)) {
    throw new ConfigError(`SHARD_COUNT must be an integer >= 1, got ${JSON.stringify(shardRaw)}`);
  }
  if (shardCount !== undefined && env.DATA_DIR !== undefined && env.DATA_DIR !== '') {
    throw new ConfigError('SHARD_COUNT and DATA_DIR together are not supported yet: a sharded node keeps its data in memory');
  }

  return {
    socketAddress,
    shardCount,
    view: [...new Set(view)],
    listenHost,
    listenPort,
    // On loopback every replica shares 127.0.0.1 as source unless it binds its own address; off
    // loopback the OS's choice is right (a re-attached container may have lost its old address).
    peerSourceAddress: /^127\./.test(ownHost) ? ownHost : undefined,
    causalWaitMs: numbers.causalWaitMs,
    peerConnectTimeoutMs: numbers.peerConnectTimeoutMs,
    peerRequestTimeoutMs: numbers.peerRequestTimeoutMs,
    probeTimeoutMs: numbers.probeTimeoutMs,
    clusterToken: env.CLUSTER_TOKEN === '' ? undefined : env.CLUSTER_TOKEN,
    logLevel: env.LOG_LEVEL ?? 'info',
    dataDir: env.DATA_DIR === undefined || env.DATA_DIR === '' ? undefined : env.DATA_DIR,
    fsync,
    limits: {
      keyLengthMax: defaultLimits.keyLengthMax,
      bodyBytesMax: numbers.bodyBytesMax,
      valueBytesMax: numbers.valueBytesMax,
      clockEntriesMax: numbers.clockEntriesMax,
      pendingEventsMax: numbers.pendingEventsMax,
      pushBatchEventsMax: numbers.pushBatchEventsMax,
      peerBodyBytesMax: numbers.peerBodyBytesMax,
      snapshotChunkKeysMax: numbers.snapshotChunkKeysMax,
      viewMembersMax: numbers.viewMembersMax,
      causalWaitersMax: numbers.causalWaitersMax,
    },
    settings: {
      probeIntervalMs: numbers.probeIntervalMs,
      suspectProbeIntervalMs: numbers.suspectProbeIntervalMs,
      probeMissesMax: numbers.probeMissesMax,
      linkHoldDownMs: numbers.linkHoldDownMs,
      antiEntropyIntervalMs: numbers.antiEntropyIntervalMs,
      logEventsMax: numbers.logEventsMax,
      compactionIntervalMs: numbers.compactionIntervalMs,
      writeAckTimeoutMs: numbers.writeAckTimeoutMs,
      joinTimeoutMs: numbers.joinTimeoutMs,
      pipelineRecheckMs: defaultProtocolSettings.pipelineRecheckMs,
      servedSnapshotTtlMs: defaultProtocolSettings.servedSnapshotTtlMs,
      retireAfterMs: numbers.retireAfterMs,
    },
  };
}
