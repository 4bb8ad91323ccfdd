// `kvs`: the command-line client (bundled as dist/kvs-cli.mjs; `npm run kvs -- <command>`).
import { main } from './cli-main.ts';

process.exitCode = await main(process.argv.slice(2), process.env);
