/**
 * Process entry of the CNI plugin: bin/caracal loads this module alone when CNI_COMMAND is set (before the
 * rest of the CLI), so a pod start pays only for what the command needs. Reads stdin whole, runs the
 * command, writes the result or the CNI error to stdout, and exits (an open datastore connection must not
 * keep the runtime waiting).
 */
import { readFileSync } from 'node:fs';
import { runPlugin } from './plugin.js';

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return '';
  }
}

export async function main(): Promise<void> {
  const { stdout, exitCode } = await runPlugin(process.env, readStdin());
  process.stdout.write(stdout, () => process.exit(exitCode));
}
