/**
 * Thin helpers over `ip`, `nsenter` and /proc for the lab: run a command (optionally inside a network
 * namespace) and get stdout/stderr/exit code back, or a LAB_COMMAND_FAILED that names the command; feed many
 * `ip` commands to one `ip -batch` process (one spawn instead of dozens: the 10 s budget of `lab up`); write
 * sysctls through /proc/sys inside a namespace (there is no `sysctl` binary on the lab machines); derive
 * interface names that fit IFNAMSIZ; and identify, signal and wait for processes by pid *and* start time, so a
 * recycled pid is never killed.
 *
 * No reconciling logic lives here; `lab.ts` decides what to build and in which order.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { CaracalError } from '../common/errors.js';

export const NETNS_DIR = '/run/netns';

/** Linux IFNAMSIZ is 16 including the terminating NUL. */
export const IFNAME_MAX = 15;

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  /** Exit code; 128 + signal number when the process was killed by a signal. */
  readonly code: number;
}

export interface RunOptions {
  /** Written to stdin. */
  readonly input?: string;
  /** Throw LAB_COMMAND_FAILED on a non-zero exit (default true). */
  readonly check?: boolean;
  /** Kill the command (SIGKILL) after this long; default 30 s. */
  readonly timeoutMs?: number;
  /** Extra context for the error message, e.g. the batch lines. */
  readonly describe?: (r: ExecResult) => string | undefined;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** `cmd arg 'arg with space'`, for messages. */
export function formatCommand(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(' ');
}

function commandFailed(argv: readonly string[], r: ExecResult, extra?: string): CaracalError {
  const why = r.stderr.trim() || r.stdout.trim() || '(no output)';
  const tail = why.length > 2000 ? `…${why.slice(-2000)}` : why;
  return new CaracalError(
    'LAB_COMMAND_FAILED',
    `Cannot run "${formatCommand(argv)}": exit code ${r.code}: ${tail}${extra ? `: ${extra}` : ''}`,
    { details: { argv, code: r.code, stderr: r.stderr, stdout: r.stdout } },
  );
}

/** Runs `argv` to completion. Never rejects for a non-zero exit when `check` is false. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  if (!cmd) return Promise.reject(new CaracalError('INTERNAL', 'Cannot run an empty command'));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timeoutMs = opts.timeoutMs ?? 30_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(
        new CaracalError('LAB_COMMAND_FAILED', `Cannot run "${formatCommand(argv)}": ${e.message}`, {
          cause: e,
          details: { argv },
        }),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const r: ExecResult = {
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code: code ?? 128 + (signal ? (SIGNALS[signal] ?? 0) : 0),
      };
      if (r.code !== 0 && opts.check !== false) {
        const why = timedOut ? `killed after ${timeoutMs} ms: it did not finish in time` : opts.describe?.(r);
        reject(commandFailed(argv, r, why));
      } else resolve(r);
    });
    child.stdin.on('error', () => {}); // EPIPE when the command exits without reading stdin
    child.stdin.end(opts.input ?? '');
  });
}

/** Synchronous variant for the process `exit` hook, where no promise will ever settle. */
export function runSync(argv: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): ExecResult {
  const [cmd, ...args] = argv;
  if (!cmd) throw new CaracalError('INTERNAL', 'Cannot run an empty command');
  try {
    const stdout = execFileSync(cmd, args, {
      input: opts.input ?? '',
      timeout: opts.timeoutMs ?? 10_000,
      stdio: ['pipe', 'pipe', 'pipe'],
      encoding: 'utf8',
    });
    return { stdout, stderr: '', code: 0 };
  } catch (e) {
    const x = e as { status?: number | null; stdout?: string; stderr?: string; message?: string };
    return { stdout: x.stdout ?? '', stderr: x.stderr ?? x.message ?? '', code: x.status ?? 1 };
  }
}

/** argv that runs `argv` inside the network namespace `ns` (only the net namespace: cheap). */
export function inNetns(ns: string, argv: readonly string[]): string[] {
  return ['nsenter', `--net=${NETNS_DIR}/${ns}`, '--', ...argv];
}

/**
 * argv for commands a person runs in a lab namespace (`lab exec`, daemons): `ip netns exec` also mounts a
 * /sys that belongs to the namespace, so `/sys/class/net` and the tools that read it see the right devices.
 */
export function ipNetnsExec(ns: string, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', ns, ...argv];
}

/**
 * Runs `lines` through one `ip -batch -` (in `ns` when given). On failure the message quotes the batch line
 * that `ip` reports ("Command failed -:3").
 */
export function ipBatch(ns: string | undefined, lines: readonly string[], opts: { force?: boolean } = {}) {
  if (lines.length === 0) return Promise.resolve({ stdout: '', stderr: '', code: 0 });
  const argv = ['ip', ...(ns ? ['-n', ns] : []), ...(opts.force ? ['-force'] : []), '-batch', '-'];
  return run(argv, { input: `${lines.join('\n')}\n`, describe: (r) => batchLine(lines, r.stderr) });
}

function batchLine(lines: readonly string[], stderr: string): string | undefined {
  const m = /Command failed -:(\d+)/.exec(stderr);
  const n = m?.[1] ? Number(m[1]) : undefined;
  return n !== undefined && lines[n - 1] !== undefined ? `batch line ${n} is "${lines[n - 1]}"` : undefined;
}

/** `net.ipv4.ip_forward` or `net/ipv4/ip_forward` → `/proc/sys/net/ipv4/ip_forward`. */
export function sysctlPath(key: string): string {
  if (key.includes('/')) return `/proc/sys/${key}`;
  // Interface names may contain dots in principle, but ours never do, so dots are separators.
  return `/proc/sys/${key.replaceAll('.', '/')}`;
}

/**
 * Writes sysctls inside `ns`, then (optionally) runs an `ip -batch` there: one process for both. /proc/sys/net
 * shows the network namespace of the reader, so `nsenter --net` is enough.
 */
export function configureNetns(
  ns: string,
  step: {
    sysctlsBefore?: readonly (readonly [string, string])[];
    ip?: readonly string[];
    sysctlsAfter?: readonly (readonly [string, string])[];
  },
): Promise<ExecResult> {
  const write = (kv: readonly (readonly [string, string])[]) =>
    kv.map(([k, v]) => `echo ${v} > ${sysctlPath(k)}`).join(' && ');
  const parts: string[] = [];
  if (step.sysctlsBefore?.length) parts.push(write(step.sysctlsBefore));
  const lines = step.ip ?? [];
  if (lines.length) parts.push('ip -batch -');
  if (step.sysctlsAfter?.length) parts.push(write(step.sysctlsAfter));
  if (parts.length === 0) return Promise.resolve({ stdout: '', stderr: '', code: 0 });
  const script = `set -e; ${parts.join(' && ')}`;
  return run(inNetns(ns, ['sh', '-c', script]), {
    input: lines.length ? `${lines.join('\n')}\n` : '',
    describe: (r) => batchLine(lines, r.stderr),
  });
}

/** Names in /run/netns (what `ip netns list` shows), without spawning anything. */
export function listNetns(): string[] {
  try {
    return readdirSync(NETNS_DIR).sort();
  } catch {
    return [];
  }
}

/** Adds the namespaces with one `ip -batch`. */
export function addNetns(names: readonly string[]): Promise<ExecResult> {
  return ipBatch(
    undefined,
    names.map((n) => `netns add ${n}`),
  );
}

/**
 * Deletes the namespaces that exist (one `ip -force -batch`, which carries on past errors), and returns the
 * names that are still there afterwards.
 */
export async function deleteNetns(names: readonly string[]): Promise<{ left: string[]; error?: string }> {
  const present = new Set(listNetns());
  const todo = names.filter((n) => present.has(n));
  let error: string | undefined;
  if (todo.length) {
    const r = await run(['ip', '-force', '-batch', '-'], {
      input: todo.map((n) => `netns del ${n}\n`).join(''),
      check: false,
    });
    if (r.code !== 0) error = r.stderr.trim();
  }
  const after = new Set(listNetns());
  return { left: names.filter((n) => after.has(n)), ...(error ? { error } : {}) };
}

/** Synchronous delete for the exit hook. */
export function deleteNetnsSync(names: readonly string[]): string[] {
  const present = new Set(listNetns());
  const todo = names.filter((n) => present.has(n));
  if (todo.length) runSync(['ip', '-force', '-batch', '-'], { input: todo.map((n) => `netns del ${n}\n`).join('') });
  const after = new Set(listNetns());
  return names.filter((n) => after.has(n));
}

/** Pids of processes whose network namespace is `ns` (`ip netns pids`). */
export async function netnsPids(ns: string): Promise<number[]> {
  const r = await run(['ip', 'netns', 'pids', ns], { check: false });
  return r.stdout
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

export function netnsPidsSync(ns: string): number[] {
  return runSync(['ip', 'netns', 'pids', ns])
    .stdout.split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

// ---------------------------------------------------------------------------------------------------------
// Names

export function shortHash(s: string, hexChars: number): string {
  return createHash('sha1').update(s).digest('hex').slice(0, hexChars);
}

/** `prefix` + `name`, cut to IFNAMSIZ. Callers make the prefix unique (it carries a link index). */
export function ifName(prefix: string, name: string): string {
  return `${prefix}${name}`.slice(0, IFNAME_MAX);
}

/** The fixed prefix of pod host-side veths (as Calico's `cali`). */
export const HOST_VETH_PREFIX = 'cali';

/** Host-side veth of a pod: `cali` + 11 hex of sha1(lab id + pod), so it is unique across labs. */
export function hostVethName(labId: string, pod: string): string {
  return `${HOST_VETH_PREFIX}${shortHash(`${labId}/${pod}`, IFNAME_MAX - HOST_VETH_PREFIX.length)}`;
}

// ---------------------------------------------------------------------------------------------------------
// Processes: identified by pid and start time (field 22 of /proc/PID/stat), so a recycled pid is never signalled.

export interface ProcessRef {
  readonly pid: number;
  /** Clock ticks since boot when the process started; undefined if it was gone before we could read it. */
  readonly startTime?: number | undefined;
}

/** [state, starttime] from /proc/PID/stat, or undefined when there is no such process. */
function procStat(pid: number): { state: string; startTime: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // comm (field 2) may contain spaces and parentheses: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = rest[0] ?? '?';
  const startTime = Number(rest[19]);
  return { state, startTime };
}

export function processStartTime(pid: number): number | undefined {
  return procStat(pid)?.startTime;
}

/** True while the process exists, is not a zombie, and is the one we recorded. */
export function isAlive(p: ProcessRef): boolean {
  const s = procStat(p.pid);
  if (!s || s.state === 'Z' || s.state === 'X') return false;
  return p.startTime === undefined || s.startTime === p.startTime;
}

function signal(p: ProcessRef, sig: NodeJS.Signals): void {
  if (!isAlive(p)) return;
  try {
    process.kill(p.pid, sig);
  } catch {
    // ESRCH: gone in between
  }
}

/**
 * SIGTERM, wait up to `graceMs`, SIGKILL what is left, wait up to `killWaitMs`. Returns the pids still alive
 * (which should never happen: a process in D state, say).
 */
export async function stopProcesses(
  procs: readonly ProcessRef[],
  graceMs = 1500,
  killWaitMs = 2000,
): Promise<number[]> {
  const waitGone = async (ms: number) => {
    const until = Date.now() + ms;
    while (procs.some(isAlive) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  };
  procs.forEach((p) => {
    signal(p, 'SIGTERM');
  });
  await waitGone(graceMs);
  procs.filter(isAlive).forEach((p) => {
    signal(p, 'SIGKILL');
  });
  await waitGone(killWaitMs);
  return procs.filter(isAlive).map((p) => p.pid);
}

/** For the exit hook: SIGKILL at once, no waiting (the kernel finishes the job). */
export function killProcessesSync(procs: readonly ProcessRef[]): void {
  procs.forEach((p) => {
    signal(p, 'SIGKILL');
  });
}
