/**
 * `caracal lab …`: bring lab topologies (lab/topology.ts, docs/design/lab.md) up and down from a shell.
 *
 *   caracal lab up FILE [--name NAME] [--wait SEC] [--json]
 *   caracal lab down NAME | --all
 *   caracal lab status [NAME] [--json]
 *   caracal lab exec [LAB] TARGET -- CMD...
 *
 * `up` leaves the lab running (detached) and prints a summary; `down` from any process finds it through its
 * state file. Every verb takes `--state-root DIR` (default $CARACAL_LAB_STATE_ROOT or /run/caracal/labs).
 * Usage errors throw CaracalError USAGE, which node/cli.ts turns into exit code 2.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { CaracalError, describeError } from '../common/errors.js';
import { formatColumns } from '../common/table.js';
import { Lab, type LabStatus, loadTopologyFile, stateRootOf } from './lab.js';

export const USAGE = `Usage: caracal lab <verb> [options]

Verbs:
  up FILE [--name NAME] [--wait SEC] [--json]   build the topology in FILE (YAML); waits up to SEC (default 10)
                                                for BGP sessions between the lab's routers
  down NAME | --all                             tear a lab (or every lab) down
  status [NAME] [--json]                        list labs, or show one: nodes, pods, routers and sessions
  exec [LAB] TARGET -- CMD...                   run CMD in the namespace of a node, pod, router or lan;
                                                LAB may be left out when exactly one lab is up

Options:
  --state-root DIR   where lab state lives (default $CARACAL_LAB_STATE_ROOT or /run/caracal/labs)`;

function usage(problem: string): CaracalError {
  return new CaracalError('USAGE', `Cannot run "caracal lab": ${problem}\n\n${USAGE}`);
}

interface Parsed {
  positionals: string[];
  flags: Map<string, string | true>;
  rest: string[] | undefined; // after `--`
}

const VALUE_FLAGS = new Set(['--name', '--wait', '--state-root']);
const BOOL_FLAGS = new Set(['--json', '--all', '--help', '-h']);

function parseArgs(args: readonly string[]): Parsed {
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  let rest: string[] | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      rest = args.slice(i + 1);
      break;
    }
    if (a.startsWith('-')) {
      const eq = a.indexOf('=');
      const key = eq > 0 ? a.slice(0, eq) : a;
      if (VALUE_FLAGS.has(key)) {
        const v = eq > 0 ? a.slice(eq + 1) : args[++i];
        if (v === undefined || v === '') throw usage(`${key} needs a value`);
        flags.set(key, v);
      } else if (BOOL_FLAGS.has(key)) flags.set(key, true);
      else throw usage(`unknown option "${a}"`);
    } else positionals.push(a);
  }
  return { positionals, flags, rest };
}

/** Aligned columns, two spaces apart; the first row is the header. */

const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** The human summary of one lab: nodes, pods, routers with their sessions, etcd, timings. */
export function formatStatus(s: LabStatus): string {
  const out: string[] = [];
  if (s.nodes.length)
    out.push(
      formatColumns([
        ['NODE', 'NAMESPACE', 'ADDRESSES'],
        ...s.nodes.map((n) => [n.name, n.netns, n.addresses.join(', ') || '-']),
      ]),
    );
  if (s.pods.length)
    out.push(
      formatColumns([
        ['POD', 'NODE', 'ADDRESS', 'HOST VETH'],
        ...s.pods.map((p) => [p.name, p.node, p.ips.join(', '), p.hostVeth]),
      ]),
    );
  if (s.routers.length) {
    const rows: string[][] = [['ROUTER', 'DAEMON', 'AS', 'ROUTER ID', 'PID', 'PEER', 'STATE']];
    for (const r of s.routers) {
      const head = [r.name, r.daemon, String(r.asNumber), r.routerId, r.alive ? String(r.pid) : `${r.pid} (dead)`];
      if (r.error || r.sessions.length === 0) rows.push([...head, '-', r.error ?? 'no peers']);
      r.sessions.forEach((x, i) => {
        rows.push([...(i === 0 ? head : head.map(() => '')), x.peer, x.info ? `${x.state} (${x.info})` : x.state]);
      });
    }
    out.push(formatColumns(rows));
  }
  if (s.lans.length)
    out.push(
      formatColumns([['LAN', 'NAMESPACE', 'MEMBERS'], ...s.lans.map((l) => [l.name, l.netns, l.members.join(', ')])]),
    );
  if (s.etcd) out.push(`etcd: ${s.etcd.endpoints.join(', ')}${s.etcd.netns ? ` (in ${s.etcd.netns})` : ''}`);
  const t = s.timingsMs;
  const phases = Object.entries(t)
    .filter(([k]) => k !== 'total')
    .map(([k, v]) => `${k} ${v} ms`)
    .join(', ');
  out.push(`timings: ${t.total !== undefined ? `${secs(t.total)} total (${phases})` : phases}`);
  if (s.missingNetns.length) out.push(`warning: namespaces missing: ${s.missingNetns.join(', ')}`);
  if (s.strayNetns.length) out.push(`warning: namespaces not in the state file: ${s.strayNetns.join(', ')}`);
  return out.join('\n\n');
}

async function up(p: Parsed, stateRoot: string | undefined): Promise<number> {
  const [file, extra] = p.positionals;
  if (!file) throw usage('up needs a topology FILE');
  if (extra) throw usage(`up takes one FILE: unexpected "${extra}"`);
  const waitRaw = p.flags.get('--wait');
  const waitSec = waitRaw === undefined ? 10 : Number(waitRaw);
  if (!Number.isFinite(waitSec) || waitSec < 0)
    throw usage(`--wait must be a number of seconds: current value is "${waitRaw}"`);
  const name = p.flags.get('--name');
  const t0 = performance.now();
  const lab = await Lab.up(loadTopologyFile(file), {
    ...(typeof name === 'string' ? { name } : {}),
    ...(stateRoot ? { stateRoot } : {}),
    detach: true,
  });
  const builtMs = performance.now() - t0;
  let waitNote = '';
  if (waitSec > 0 && lab.expectedSessions().length) {
    const w0 = performance.now();
    try {
      await lab.waitForSessions({ timeoutMs: waitSec * 1000 });
      waitNote = `; sessions between its routers Established after ${secs(performance.now() - t0)}`;
    } catch (e) {
      waitNote = `; sessions between its routers not all Established after ${secs(performance.now() - w0)} more: ${describeError(e)}`;
    }
  }
  const status = await lab.status();
  if (p.flags.has('--json')) {
    console.log(JSON.stringify(status, null, 2));
    return 0;
  }
  console.log(`Lab "${lab.name}" is up: built in ${secs(builtMs)}${waitNote}\n`);
  console.log(formatStatus(status));
  console.log(`\nTear it down with: caracal lab down ${lab.name}`);
  return 0;
}

async function down(p: Parsed, stateRoot: string | undefined): Promise<number> {
  const opts = stateRoot ? { stateRoot } : {};
  if (p.flags.has('--all')) {
    if (p.positionals.length) throw usage('down takes either NAME or --all');
    const names = await Lab.downAll(opts);
    console.log(names.length ? `Tore down: ${names.join(', ')}` : 'No labs were up');
    return 0;
  }
  const [name, extra] = p.positionals;
  if (!name) throw usage('down needs a lab NAME (or --all)');
  if (extra) throw usage(`down takes one NAME: unexpected "${extra}"`);
  await Lab.downByName(name, opts);
  console.log(`Tore down: ${name}`);
  return 0;
}

async function status(p: Parsed, stateRoot: string | undefined): Promise<number> {
  const opts = stateRoot ? { stateRoot } : {};
  const [name, extra] = p.positionals;
  if (extra) throw usage(`status takes at most one NAME: unexpected "${extra}"`);
  const json = p.flags.has('--json');
  if (!name) {
    const labs = Lab.list(opts);
    if (json) {
      console.log(JSON.stringify(labs, null, 2));
      return 0;
    }
    if (labs.length === 0) {
      console.log(`No labs are up (state root ${stateRootOf(opts)})`);
      return 0;
    }
    const rows = labs.map((l) => {
      if (l.phase === 'orphaned') return [l.name, 'orphaned (no state: caracal lab down NAME)', '-', '-', '-'];
      const s = Lab.open(l.name, opts).state;
      return [
        l.name,
        l.phase,
        String(s.topology.nodes.length),
        String(s.topology.pods.length),
        String(s.topology.routers.length),
      ];
    });
    console.log(formatColumns([['LAB', 'PHASE', 'NODES', 'PODS', 'ROUTERS'], ...rows]));
    return 0;
  }
  const s = await Lab.open(name, opts).status();
  console.log(
    json ? JSON.stringify(s, null, 2) : `Lab "${s.name}" (${s.phase}, since ${s.createdAt})\n\n${formatStatus(s)}`,
  );
  return 0;
}

async function exec(p: Parsed, stateRoot: string | undefined): Promise<number> {
  const opts = stateRoot ? { stateRoot } : {};
  if (!p.rest || p.rest.length === 0) throw usage('exec needs "-- CMD..." after the target');
  let labName: string;
  let target: string;
  if (p.positionals.length === 2) [labName, target] = p.positionals as [string, string];
  else if (p.positionals.length === 1) {
    target = p.positionals[0]!;
    const labs = Lab.list(opts).filter((l) => l.phase !== 'orphaned');
    if (labs.length !== 1)
      throw usage(
        `exec ${target} names no lab, and ${labs.length} labs are up${labs.length ? ` (${labs.map((l) => l.name).join(', ')})` : ''}: use "exec LAB ${target} -- CMD"`,
      );
    labName = labs[0]!.name;
  } else throw usage('exec needs [LAB] TARGET before "--"');
  const argv = Lab.open(labName, opts).execArgv(target, p.rest);
  return await new Promise<number>((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
    child.on('error', (e) =>
      reject(new CaracalError('LAB_COMMAND_FAILED', `Cannot run "${p.rest!.join(' ')}" in "${target}": ${e.message}`)),
    );
    child.on('close', (code, signal) => resolve(exitCodeOf(code, signal)));
  });
}

/** A shell's exit status for a child: its code, or 128 + the number of the signal that killed it. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}

export async function main(args: string[]): Promise<number> {
  // `caracal lab status | head`: a closed pipe is not an error worth a stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  if (args[0] === 'help') {
    console.log(USAGE);
    return 0;
  }
  // Options may come before or after the verb: `caracal lab --state-root DIR status` works too.
  const p = parseArgs(args);
  const verb = p.positionals.shift();
  if (p.flags.has('--help') || p.flags.has('-h')) {
    console.log(USAGE);
    return 0;
  }
  const root = p.flags.get('--state-root');
  const stateRoot = typeof root === 'string' ? root : undefined;
  if (verb === undefined) throw usage('no verb given');
  if (verb !== 'exec' && p.rest !== undefined) throw usage(`"--" is only for exec`);
  switch (verb) {
    case 'up':
      return up(p, stateRoot);
    case 'down':
      return down(p, stateRoot);
    case 'status':
      return status(p, stateRoot);
    case 'exec':
      return exec(p, stateRoot);
    default:
      throw usage(`unknown verb "${verb}"`);
  }
}
