/**
 * `caracal` entry point: dispatches to the agent (`node`), the lab tooling (`lab`) and, when a container
 * runtime calls it with CNI_COMMAND set, the CNI plugin. Imports are lazy so each mode loads only its own code.
 */
import { CaracalError, describeError, isCaracalError } from '../common/errors.js';

const USAGE = `Usage: caracal <command> [args]

Commands:
  node [--nodename NAME] [--cni-socket PATH]                              the node agent (for now: the CNI service)
  lab up FILE | down NAME|--all | status [NAME] | exec LAB NODE -- CMD...   real topologies in network namespaces
  speaker --config FILE [--fib] [--graceful-restart]                      the BGP speaker alone (docs/speaker.md)
  version                                                                 print the version

As a CNI plugin (CNI_COMMAND set in the environment) it reads the network config on stdin.`;

/**
 * V8 flags for `caracal speaker`, set at run time (the process is already running, so the command-line
 * `--max-semi-space-size` is out of reach; this one is read each time V8 considers growing the young
 * generation). Growth factor 1 keeps each semi-space at its initial 1 MiB instead of growing to 16 MiB under
 * a full-table ingest: the speaker's long-lived data sits in typed arrays and interned attribute sets, so a
 * bigger nursery bought no speed, only ~30 MiB of peak RSS (docs/design/bgp-bench.md, memory). Other
 * commands keep V8's defaults. Hazard: on the command line V8 raises this flag to at least 2 when it sets
 * up the heap; only a run-time setting sticks, and V8 silently ignores flags it does not know, so
 * node/speaker-cmd.test.ts checks the effect (re-check on a Node upgrade).
 */
export const SPEAKER_V8_FLAGS = '--semi-space-growth-factor=1';

export async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  let code = 0;
  try {
    switch (cmd) {
      case 'lab': {
        const lab = await import('../lab/cli.js');
        code = await lab.main(rest);
        break;
      }
      case 'node': {
        const { runAgent } = await import('./agent.js');
        code = await runAgent(rest);
        return process.exit(code); // the datastore is closed; do not wait for stray handles
      }
      case 'speaker': {
        (await import('node:v8')).setFlagsFromString(SPEAKER_V8_FLAGS);
        const { runSpeaker } = await import('./speaker-cmd.js');
        code = await runSpeaker(rest);
        return process.exit(code); // sessions and timers are closed; do not wait for stray handles
      }
      case 'version':
      case '--version':
        console.log('caracal 0.1.0');
        break;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        break;
      default:
        throw new CaracalError('USAGE', `Cannot run caracal: unknown command "${cmd}"\n\n${USAGE}`);
    }
  } catch (e) {
    console.error(isCaracalError(e) ? `caracal: ${e.message}` : `caracal: ${describeError(e)}`);
    if (!isCaracalError(e) && e instanceof Error && e.stack) console.error(e.stack);
    code = isCaracalError(e, 'USAGE') ? 2 : 1;
  }
  process.exitCode = code;
}
