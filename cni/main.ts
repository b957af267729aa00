/**
 * Process entry of the CNI plugin: bin/caracal loads this module alone when CNI_COMMAND is set (before the
 * rest of the CLI), so a pod start pays only for what the command needs. Reads stdin whole, runs the
 * command, writes the result or the CNI error to stdout, and exits (an open datastore connection must not
 * keep the runtime waiting).
 *
 * Fast path: when the node agent (`caracal node`) accepts on the configured `agentSocket`, ADD, DEL and CHECK
 * are handed to it whole (env + stdin; it does IPAM, veth, routes and the endpoint with its warm datastore
 * connection and IPAM cache), and this process loads nothing but this module, the agent client and the CNI
 * errors: no koffi, no datastore stack (docs/design/cni.md "Start-up"). The agent takes only commands from
 * its own network namespace (it makes the veth's host end there). Otherwise, or for the other
 * commands, the plugin runs in-process (plugin.ts, loaded only then). An ADD whose agent goes away mid-way
 * fails with "try again later" (the runtime then runs DEL, which falls back in-process); a DEL or CHECK falls
 * back in-process.
 */
import { readFileSync } from 'node:fs';
import { AgentUnavailable, connectAgent, isForwardedEnv } from './agent-client.js';
import { DEFAULT_AGENT_SOCKET, netnsInode } from './config.js';
import { CniCode, CniError } from './errors.js';

interface Output {
  stdout: string;
  exitCode: number;
}

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return '';
  }
}

/** The whole command through the agent, or undefined to run it in-process. */
export async function viaAgent(env: Record<string, string | undefined>, stdin: string): Promise<Output | undefined> {
  const command = env.CNI_COMMAND;
  if (command !== 'ADD' && command !== 'DEL' && command !== 'CHECK') return undefined;
  let conf: { agentSocket?: unknown; cniVersion?: unknown };
  try {
    conf = JSON.parse(stdin) as typeof conf;
  } catch {
    return undefined; // the in-process path reports the bad configuration
  }
  const socket = typeof conf.agentSocket === 'string' ? conf.agentSocket : DEFAULT_AGENT_SOCKET;
  const agent = await connectAgent(socket, { requestTimeoutMs: 130_000 });
  if (!agent) return undefined;
  const cniVars: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (isForwardedEnv(k) && v !== undefined) cniVars[k] = v;
  try {
    const out = await agent.call('cni', { env: cniVars, stdin, netns: netnsInode() });
    return out.refused === undefined ? { stdout: out.stdout, exitCode: out.exitCode } : undefined;
  } catch (e) {
    // Lost connection: a DEL or CHECK is safe to redo here; an ADD may have run, so it fails for a retry.
    if (e instanceof AgentUnavailable && command !== 'ADD') return undefined;
    const version = typeof conf.cniVersion === 'string' ? conf.cniVersion : '1.1.0';
    const err =
      e instanceof CniError
        ? e // the agent refused or timed out the request: its answer stands
        : new CniError(CniCode.TryAgainLater, `Cannot finish ${command}: the node agent went away: ${String(e)}`);
    return { stdout: JSON.stringify(err.toJSON(version)), exitCode: 1 };
  } finally {
    agent.close();
  }
}

export async function main(): Promise<void> {
  const stdin = readStdin();
  const out =
    (await viaAgent(process.env, stdin)) ?? (await (await import('./plugin.js')).runPlugin(process.env, stdin));
  process.stdout.write(out.stdout, () => process.exit(out.exitCode));
}
