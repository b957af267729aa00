/**
 * Source entry point of the `caracal` CLI for the RR / GR tests: `node --import tsx rrgr-support/caracal.ts ARGS`
 * runs what `bin/caracal ARGS` runs, without a build.
 */
import { main } from '../../../node/cli.js';

await main(process.argv.slice(2));
