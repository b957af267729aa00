/**
 * Optional fail-closed wait: ADD returns only once the node agent reports the endpoint's policy programmed.
 *
 * The mechanism is a status file. For the endpoint `<name>` in namespace `<ns>` the agent writes
 * `<statusDir>/<ns>/<name>` (atomically: write a temporary file, rename) with the JSON
 * `{"containerID": "<id>", "programmed": true}` once the endpoint's rules are in the kernel, and removes it
 * when the endpoint goes. The container ID makes a file left by an earlier sandbox of the same pod not count.
 * The plugin polls the file (every 5 ms: cheap, and no watch descriptor to leak) until it matches or
 * `timeoutMs` passes; then ADD fails with code 103 and undoes itself, so a pod never runs unprotected.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PolicyWaitConf } from './config.js';
import { CniCode, CniError } from './errors.js';

export const POLL_MS = 5;

export function statusFile(conf: PolicyWaitConf, namespace: string, name: string): string {
  return join(conf.statusDir, namespace, name);
}

function programmed(path: string, containerId: string): boolean {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return false;
  }
  try {
    const s = JSON.parse(text) as { containerID?: unknown; programmed?: unknown };
    return s.programmed === true && s.containerID === containerId;
  } catch {
    return false; // a torn write by an agent that does not rename: read again
  }
}

export async function waitForPolicy(
  conf: PolicyWaitConf,
  ep: { namespace: string; name: string; containerId: string },
): Promise<void> {
  const path = statusFile(conf, ep.namespace, ep.name);
  const deadline = Date.now() + conf.timeoutMs;
  for (;;) {
    if (programmed(path, ep.containerId)) return;
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new CniError(
    CniCode.PolicyTimeout,
    `Cannot finish ADD for ${ep.namespace}/${ep.name}: the node agent did not report its policy programmed within ${conf.timeoutMs} ms (no matching ${path}); failing closed`,
  );
}
