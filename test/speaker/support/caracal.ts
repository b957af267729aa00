/**
 * Source entry point of the `caracal` CLI for tests: `node --import tsx test/speaker/support/caracal.ts ARGS`
 * runs what `bin/caracal ARGS` runs, without a build.
 */
import { main } from '../../../node/cli.js';

await main(process.argv.slice(2));
