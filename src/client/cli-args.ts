// The CLI's command line: options may come before or after the command; `--` ends the options;
// a lone `-1` is a value, not an option, so `kvs put x -1` stores the number -1.
import { isReplicaAddress, type KvsValue } from './kvs-client.ts';

const defaultReplicas = ['127.0.0.1:8082', '127.0.0.1:8083', '127.0.0.1:8084'];
const defaultSessionFile = '.kvs-session.json';

export const usage = `kvs: a command-line client for causal-kvs

usage: kvs [options] <command>

commands:
  get KEY              print the value of KEY                      (exit 1 if it does not exist)
  put KEY VALUE        write VALUE (JSON if it parses as JSON, else the text itself)
  delete KEY           delete KEY                                  (exit 1 if it does not exist)
  view                 print the replicas in the cluster's view
  shards               print the shards of a sharded store: id, key count, members
  watch-log            print new events of the operation log as they happen (Ctrl-C stops)
  help                 print this text

options:
  --replicas LIST      replicas to use, IP:PORT,IP:PORT,...  (env KVS_REPLICAS;
                       default ${defaultReplicas.join(',')}, the npm start cluster)
  --session FILE       keep the session's causal metadata in FILE (env KVS_SESSION;
                       default ./${defaultSessionFile}), so successive commands stay causal
  --no-session         neither read nor write a session file
  --json               print answers as JSON (one object; one per line for watch-log)
  --timeout MS         give up on a command after MS ms of retries (default 10000)
  --string             put: store VALUE as a string even if it parses as JSON
  --interval MS        watch-log: poll every MS ms (default 250)
  --count N            watch-log: stop after N events
  --all                watch-log: first print the events still in the log (a replica
                       folds events every replica has into its snapshot after ~1 s)

In a sharded store, get, put and delete look up the shard map first and send each key to a member
of its shard (any other node forwards it when none answers).

exit codes: 0 ok, 1 not found, 2 usage error, 3 unavailable (503 after retries, or no replica
reachable), 4 other error (the replica refused the request or failed)

examples:
  kvs put x 1                 kvs put name '"1"'           kvs put --string name 1
  kvs get x                   kvs --json get x             kvs delete x
  kvs watch-log --count 10    kvs shards                   KVS_REPLICAS=10.10.0.2:8090 kvs view
`;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type Command =
  | { readonly name: 'get'; readonly key: string }
  | { readonly name: 'put'; readonly key: string; readonly value: KvsValue }
  | { readonly name: 'delete'; readonly key: string }
  | { readonly name: 'view' }
  | { readonly name: 'shards' }
  | { readonly name: 'watch-log'; readonly intervalMs: number; readonly count: number | undefined; readonly all: boolean }
  | { readonly name: 'help' };

export interface Invocation {
  readonly command: Command;
  readonly replicas: readonly string[];
  /** The session file, or undefined for none. */
  readonly session: string | undefined;
  readonly json: boolean;
  readonly timeoutMs: number | undefined;
}

const valued = new Set(['replicas', 'session', 'timeout', 'interval', 'count']);
const flags = new Set(['json', 'string', 'no-session', 'all', 'help']);
const commandOnly: Record<string, string> = { string: 'put', interval: 'watch-log', count: 'watch-log', all: 'watch-log' };

function positiveInteger(text: string, option: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) throw new UsageError(`--${option} takes a positive integer, got ${JSON.stringify(text)}`);
  return value;
}

function parseReplicas(text: string, from: string): string[] {
  const replicas = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  if (replicas.length === 0) throw new UsageError(`${from} lists no replicas; expected IP:PORT,IP:PORT,...`);
  for (const replica of replicas) {
    if (!isReplicaAddress(replica)) throw new UsageError(`${from}: ${JSON.stringify(replica)} is not IP:PORT`);
  }
  return replicas;
}

/** VALUE as JSON if it parses (and is not null), else the text itself; `--string` keeps the text. */
function parseValue(text: string, forceString: boolean): KvsValue {
  if (forceString) return text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  if (parsed === null) throw new UsageError('null is not a value the store keeps; use --string to store the text "null"');
  return parsed as KvsValue;
}

export function parseArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Invocation {
  const options = new Map<string, string | true>();
  const positionals: string[] = [];
  let optionsEnded = false;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (optionsEnded || !(token.startsWith('--') || token === '-h')) {
      positionals.push(token);
      continue;
    }
    if (token === '--') {
      optionsEnded = true;
      continue;
    }
    if (token === '-h') {
      options.set('help', true);
      continue;
    }
    const eq = token.indexOf('=');
    const name = token.slice(2, eq === -1 ? undefined : eq);
    if (valued.has(name)) {
      let value: string | undefined;
      if (eq !== -1) value = token.slice(eq + 1);
      else if (i + 1 < argv.length) value = argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      options.set(name, value);
    } else if (flags.has(name)) {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`);
      options.set(name, true);
    } else {
      throw new UsageError(`unknown option ${token}`);
    }
  }

  const text = (name: string) => {
    const value = options.get(name);
    return typeof value === 'string' ? value : undefined;
  };
  const [name, ...args] = positionals;
  const commandName = options.has('help') ? 'help' : name;
  if (commandName === undefined) throw new UsageError('no command given');

  for (const [option, command] of Object.entries(commandOnly)) {
    if (options.has(option) && commandName !== command && commandName !== 'help') throw new UsageError(`--${option} only applies to ${command}`);
  }

  const arity = (count: number, shape: string) => {
    if (args.length !== count) {
      throw new UsageError(`${commandName} takes ${shape}, got ${args.length} argument(s)${args.length > count ? ' (quote a value that has spaces)' : ''}`);
    }
  };
  const key = (text: string) => {
    if (text === '') throw new UsageError('KEY must not be empty');
    return text;
  };

  let command: Command;
  switch (commandName) {
    case 'get':
      arity(1, 'KEY');
      command = { name: 'get', key: key(args[0]!) };
      break;
    case 'put':
      arity(2, 'KEY VALUE');
      command = { name: 'put', key: key(args[0]!), value: parseValue(args[1]!, options.has('string')) };
      break;
    case 'delete':
      arity(1, 'KEY');
      command = { name: 'delete', key: key(args[0]!) };
      break;
    case 'view':
      arity(0, 'no arguments');
      command = { name: 'view' };
      break;
    case 'shards':
      arity(0, 'no arguments');
      command = { name: 'shards' };
      break;
    case 'watch-log': {
      arity(0, 'no arguments');
      const interval = text('interval');
      const count = text('count');
      command = {
        name: 'watch-log',
        intervalMs: interval === undefined ? 250 : positiveInteger(interval, 'interval'),
        count: count === undefined ? undefined : positiveInteger(count, 'count'),
        all: options.has('all'),
      };
      break;
    }
    case 'help':
      command = { name: 'help' };
      break;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(commandName)}`);
  }

  const replicasText = text('replicas');
  const replicas =
    replicasText !== undefined
      ? parseReplicas(replicasText, '--replicas')
      : env.KVS_REPLICAS !== undefined && env.KVS_REPLICAS.trim() !== ''
        ? parseReplicas(env.KVS_REPLICAS, 'KVS_REPLICAS')
        : defaultReplicas;
  const sessionOption = text('session');
  if (sessionOption === '') throw new UsageError('--session needs a file name');
  const session = options.has('no-session') ? undefined : (sessionOption ?? (env.KVS_SESSION || undefined) ?? defaultSessionFile);
  const timeout = text('timeout');

  return {
    command,
    replicas,
    session,
    json: options.has('json'),
    timeoutMs: timeout === undefined ? undefined : positiveInteger(timeout, 'timeout'),
  };
}
