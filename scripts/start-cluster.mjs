// `npm start`: three replicas from the bundle on 127.0.0.1:8082-8084, each with the others in its
// VIEW; prints how to use them; Ctrl-C (or SIGTERM) stops all three.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bundle = fileURLToPath(new URL('../dist/kvs.mjs', import.meta.url));
const addresses = ['127.0.0.1:8082', '127.0.0.1:8083', '127.0.0.1:8084'];
const view = addresses.join(',');

const children = addresses.map((address) => {
  const child = spawn(process.execPath, [bundle], {
    env: { ...process.env, SOCKET_ADDRESS: address, VIEW: view, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.on('exit', (code, signal) => {
    if (!stopping) console.error(`replica ${address} exited (${signal ?? code}); stopping the cluster`);
    stop();
  });
  return child;
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  setTimeout(() => process.exit(0), 500).unref();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

console.log(`causal-kvs: 3 replicas running on ${addresses.join(', ')}  (Ctrl-C stops them)

  curl -s -X PUT http://127.0.0.1:8082/kvs/x -H 'Content-Type: application/json' -d '{"value": 1, "causal-metadata": null}'
  # copy the "causal-metadata" from the answer into the next request:
  curl -s -X GET http://127.0.0.1:8083/kvs/x -H 'Content-Type: application/json' -d '{"causal-metadata": <metadata from above>}'
  curl -s http://127.0.0.1:8084/view
  curl -s http://127.0.0.1:8082/debug/state

  npm run -s kvs -- put x 1        # the CLI carries the causal metadata for you (kvs help)
  npm run -s kvs -- get x
  open http://127.0.0.1:8082/debug in a browser for the live view, links and a space-time diagram
`);
