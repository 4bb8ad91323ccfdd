// The `kvs` command line (entry: cli.ts): one command run against the cluster, with the
// session's causal metadata kept in a file between commands. Importable, so tests can run it in-process.
import { parseArgs, usage, UsageError, type Command, type Invocation } from './cli-args.ts';
import { KvsClient, KvsError, type DebugLog, type LogEvent } from './kvs-client.ts';
import { readSession, SessionFileError, writeSession } from './session-file.ts';

const exitCodes = { ok: 0, notFound: 1, usage: 2, unavailable: 3, error: 4 } as const;

export interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

const processIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

const show = (value: unknown) => JSON.stringify(value);

/** Runs one command line; resolves with the exit code. */
export async function main(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, io: Io = processIo): Promise<number> {
  let invocation: Invocation;
  try {
    invocation = parseArgs(argv, env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`kvs: ${error.message}`);
    io.err(`Run 'kvs help' for usage.`);
    return exitCodes.usage;
  }
  const { command, json } = invocation;
  if (command.name === 'help') {
    io.out(usage.trimEnd());
    return exitCodes.ok;
  }

  let client: KvsClient | undefined;
  try {
    const causal = command.name === 'get' || command.name === 'put' || command.name === 'delete';
    const session = causal ? invocation.session : undefined;
    const metadata = session === undefined ? null : await readSession(session);
    client = new KvsClient({
      replicas: invocation.replicas,
      metadata,
      ...(invocation.timeoutMs === undefined ? {} : { retry: { totalMsMax: invocation.timeoutMs }, timeoutMs: Math.min(5000, invocation.timeoutMs) }),
    });
    const code = await run(client, command, json, io);
    if (session !== undefined && show(client.metadata) !== show(metadata)) {
      try {
        await writeSession(session, client.metadata);
      } catch (error) {
        io.err(`kvs: the command was done, but the session was not saved, so the next command may not see it: ${(error as Error).message}`);
        return exitCodes.error;
      }
    }
    return code;
  } catch (error) {
    return report(error, json, io);
  } finally {
    client?.close();
  }
}

async function run(client: KvsClient, command: Exclude<Command, { name: 'help' }>, json: boolean, io: Io): Promise<number> {
  switch (command.name) {
    case 'get': {
      const result = await client.get(command.key);
      if (json) io.out(show({ key: command.key, ...result, ...answeredBy(client) }));
      else if (result.found) io.out(`${command.key} = ${show(result.value)}`);
      else io.err(`not found: ${command.key}`);
      return result.found ? exitCodes.ok : exitCodes.notFound;
    }
    case 'put': {
      const result = await client.put(command.key, command.value);
      io.out(json ? show({ key: command.key, result, ...answeredBy(client) }) : `${result} ${command.key}`);
      return exitCodes.ok;
    }
    case 'delete': {
      const result = await client.delete(command.key);
      if (json) io.out(show({ key: command.key, result, ...answeredBy(client) }));
      else if (result === 'deleted') io.out(`deleted ${command.key}`);
      else io.err(`not found: ${command.key}`);
      return result === 'deleted' ? exitCodes.ok : exitCodes.notFound;
    }
    case 'view': {
      const view = await client.view();
      if (json) io.out(show({ view, replica: client.lastReplica }));
      else for (const replica of view) io.out(replica);
      return exitCodes.ok;
    }
    case 'shards': {
      const { shards, replica } = await client.shards();
      if (json) io.out(show({ sharded: shards !== null, shards: shards ?? [], replica }));
      else if (shards === null) io.out('not sharded: every replica holds every key');
      else for (const shard of shards) io.out(`shard ${shard.id} (${shard.keyCount === null ? 'key count unavailable' : `${shard.keyCount} keys`}): ${shard.members.join(' ')}`);
      return exitCodes.ok;
    }
    case 'watch-log':
      return watchLog(client, command, json, io);
  }
}

/** Who answered a key operation, for --json: the replica, and in a sharded store the key's shard. */
function answeredBy(client: KvsClient): { replica: string | undefined; 'shard-id'?: number } {
  return client.lastShard === undefined ? { replica: client.lastReplica } : { replica: client.lastReplica, 'shard-id': client.lastShard };
}

/** A linear extension of happens-before: a causally later event has a strictly larger clock sum. */
const clockSum = (event: LogEvent) => Object.values(event.clock).reduce((sum, count) => sum + count, 0);

/**
 * Polls GET /debug/log and prints each event once, in an order consistent with causality. Events
 * are tracked per origin (`origin#seq` names one event everywhere), so a failover to another
 * replica neither repeats nor skips what both have. A replica folds events every replica has into
 * its snapshot, and while someone reads its log it still shows them for a few seconds after; events
 * gone between two polls anyway (a poll stalled that long, or a failover to a replica that had no
 * reader) cannot be shown, and a note on stderr says how many, which count towards `count`.
 * Stops after `count` events or on Ctrl-C.
 */
async function watchLog(client: KvsClient, command: Extract<Command, { name: 'watch-log' }>, json: boolean, io: Io): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const seen = new Map<string, number>();
  let printed = 0;
  try {
    let page = await client.debugLog();
    if (!command.all) for (const [origin, seq] of Object.entries(page.clock)) seen.set(origin, seq);
    io.err(`watching the operation log of ${page.replica} every ${command.intervalMs} ms (Ctrl-C stops)`);
    for (;;) {
      const { fresh, missing } = await newEvents(client, page, seen, io);
      for (const event of fresh) {
        io.out(json ? show(event) : describeEvent(event));
        printed++;
        if (command.count !== undefined && printed >= command.count) return exitCodes.ok;
      }
      // Events that could not be shown happened all the same: they count, so --count still ends.
      printed += missing;
      if (command.count !== undefined && printed >= command.count) return exitCodes.ok;
      if (stop.signal.aborted) return exitCodes.ok;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          stop.signal.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, command.intervalMs);
        stop.signal.addEventListener('abort', done);
      });
      if (stop.signal.aborted) return exitCodes.ok;
      page = await client.debugLog();
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

/**
 * The events of `page` not printed yet (fetching per origin if the page was cut at its limit), in
 * causal order, and how many new events were folded away before they could be read.
 */
async function newEvents(client: KvsClient, page: DebugLog, seen: Map<string, number>, io: Io): Promise<{ fresh: LogEvent[]; missing: number }> {
  const fresh: LogEvent[] = [];
  let missingAll = 0;
  const truncated = page.more;
  for (const [origin, seq] of Object.entries(page.clock)) {
    const since = seen.get(origin) ?? 0;
    if (seq <= since) continue;
    const events = truncated ? (await client.debugLog({ origin, since })).events : page.events;
    const mine = events.filter((event) => event.origin === origin && event.seq > since && event.seq <= seq);
    const missing = seq - since - new Set(mine.map((event) => event.seq)).size;
    if (missing > 0) io.err(`(${missing} event(s) of ${origin} were already folded into the snapshot and cannot be shown)`);
    missingAll += missing;
    fresh.push(...mine);
    seen.set(origin, seq);
  }
  fresh.sort((a, b) => clockSum(a) - clockSum(b) || a.origin.localeCompare(b.origin) || a.seq - b.seq);
  return { fresh, missing: missingAll };
}

function describeEvent(event: LogEvent): string {
  const id = `${event.origin}#${event.seq}`;
  return event.type === 'put' ? `${id}  put ${event.key} = ${show(event.value)}` : `${id}  delete ${event.key}`;
}

function report(error: unknown, json: boolean, io: Io): number {
  let code: number = exitCodes.error;
  let message: string;
  if (error instanceof KvsError) {
    code = error.kind === 'unavailable' ? exitCodes.unavailable : error.kind === 'invalid-argument' ? exitCodes.usage : exitCodes.error;
    message = error.kind === 'unavailable' || error.kind === 'invalid-argument' ? error.message : `error: ${error.message}`;
  } else if (error instanceof SessionFileError) {
    code = exitCodes.usage;
    message = error.message;
  } else {
    message = `unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
  }
  if (json) {
    const kvs = error instanceof KvsError ? error : undefined;
    io.out(show({ error: message, kind: kvs?.kind ?? (error instanceof SessionFileError ? 'session' : 'internal'), status: kvs?.status ?? null }));
  }
  io.err(`kvs: ${message}`);
  return code;
}
