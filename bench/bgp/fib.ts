/**
 * FIB receivers: the same ingest job as bench/bgp/receivers.ts, but the clock stops when all N routes are in
 * the kernel's forwarding table of the receiver's namespace, not in the daemon's RIB (issue 3, benchmark (b)):
 *
 * - `bird-kernel`: BIRD 2 with a kernel protocol exporting every route (rtm_protocol 12, "bird");
 * - `frr-zebra`:   FRR bgpd with zebra, which installs through its dataplane thread (rtm_protocol 186, "bgp");
 *                  its peak RSS is bgpd's plus zebra's;
 * - `caracal-fib`: `caracal speaker --fib` — best routes → felix/dataplane/routes.ts RouteTable →
 *                  kernel/netlink NetlinkRoutePort (rtm_protocol 44).
 *
 * Counting: the kernel's own count of prefixes in the main FIB trie, `Prefixes:` under `Main:` in
 * /proc/<pid>/net/fib_triestat, read from outside through a process of the namespace (the daemon: /proc/PID/net
 * is that process's namespace), minus the count before the feeder connected. The kernel walks the trie for
 * it (≈50 ms at 1M routes, under RCU: it does not block installs), so polls back off to 3% of the time elapsed.
 * Reading it costs every receiver alike.
 *
 * Between runs the routes are removed through netlink (bench/bgp/fib-flush-cli.ts, inside the namespace:
 * `ip route flush` takes minutes at 1M), and the count must be back at the baseline before the next run.
 */
import { spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ipNetnsExec, type ProcessRef } from '../../lab/netns.js';
import { FrrVty } from './control.js';
import {
  type BirdHandle,
  birdBenchConfig,
  type CaracalHandle,
  caracalReceiver,
  type FrrHandle,
  frrBenchConfig,
  missing,
  type Receiver,
  type ReceiverEnv,
  spawnDaemon,
  startBgpd,
  startBird,
  startCaracal,
  stopDaemon,
  waitReady,
} from './receivers.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FLUSH_CLI = join(ROOT, 'bench', 'bgp', 'fib-flush-cli.ts');

/** rtm_protocol of each receiver's routes (/etc/iproute2/rt_protos: 12 bird, 186 bgp; ours 44). */
export const FIB_PROTOCOL = { bird: 12, frr: 186, caracal: 44 } as const;

/** `Prefixes:` of the `Main:` trie in a fib_triestat text; undefined when absent. */
export function mainTriePrefixes(triestat: string): number | undefined {
  const main = triestat.indexOf('\nMain:');
  if (main < 0) return undefined;
  const m = /Prefixes:\s+(\d+)/.exec(triestat.slice(main));
  return m ? Number(m[1]) : undefined;
}

/** The number of prefixes in the main FIB of the namespace `pid` lives in. */
export function fibPrefixes(pid: number): number {
  const n = mainTriePrefixes(readFileSync(`/proc/${pid}/net/fib_triestat`, 'latin1'));
  if (n === undefined) throw new Error(`Cannot count FIB routes: no "Main:" trie in /proc/${pid}/net/fib_triestat`);
  return n;
}

/** Removes every IPv4/IPv6 route with `protocol` from `netns` over netlink; resolves with how many. */
export function flushFib(netns: string, protocol: number): Promise<number> {
  const argv = ipNetnsExec(netns, [process.execPath, '--import', 'tsx', FLUSH_CLI, String(protocol)]);
  return new Promise((res, rej) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString('utf8');
    });
    child.on('error', rej);
    child.on('exit', (code) => {
      const n = Number(out.trim());
      if (code === 0 && Number.isInteger(n)) res(n);
      else rej(new Error(`Cannot flush proto ${protocol} routes in ${netns}: exit ${code}: ${err.slice(-800)}`));
    });
  });
}

/** What every FIB receiver's handle adds: the namespace's FIB size before the feeder connected. */
interface FibExtra {
  readonly baseline: number;
  readonly netns: string;
}

/** Removes routes an earlier run left behind (one that failed half-way), before the daemon starts. */
const clean = (env: ReceiverEnv, protocol: number) => flushFib(env.netns, protocol);

function withBaseline<H extends { proc: { pid: number } }>(netns: string, h: H): H & FibExtra {
  return Object.assign(h, { baseline: fibPrefixes(h.proc.pid), netns });
}

const POLL = { pollIntervalMs: 20, pollBackoff: 0.03 } as const;
const POLL_METHOD = '/proc/PID/net/fib_triestat, Main trie "Prefixes:" minus the count before the run';

// ---------------------------------------------------------------------------------------------------------
// BIRD with a kernel protocol

export function birdKernelProtocol(): string[] {
  return ['protocol kernel {', '  ipv4 { import none; export all; };', '  merge paths off;', '}'];
}

type BirdFib = BirdHandle & FibExtra;

export const birdFibReceiver: Receiver<BirdFib> = {
  name: 'bird-kernel',
  ...POLL,
  pollMethod: POLL_METHOD,
  unavailable: () => missing(['bird']),
  async start(env) {
    await clean(env, FIB_PROTOCOL.bird);
    return withBaseline(env.netns, await startBird(env, birdBenchConfig(env, birdKernelProtocol())));
  },
  routeCount: async (h) => fibPrefixes(h.proc.pid) - h.baseline,
  pid: (h) => h.proc.pid,
  async stop(h) {
    h.close();
    await stopDaemon(h.proc);
    await flushFib(h.netns, FIB_PROTOCOL.bird);
  },
};

// ---------------------------------------------------------------------------------------------------------
// FRR bgpd + zebra

/** The packaged `frr` user's ids, from /etc/passwd. */
function frrUser(): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('frr:'));
  const f = line?.split(':');
  return f && f.length > 3 ? { uid: Number(f[2]), gid: Number(f[3]) } : undefined;
}

interface FrrFib extends FrrHandle, FibExtra {
  readonly zebra: ProcessRef;
}

export const frrFibReceiver: Receiver<FrrFib> = {
  name: 'frr-zebra',
  ...POLL,
  pollMethod: POLL_METHOD,
  unavailable: () =>
    existsSync('/usr/lib/frr/bgpd') && existsSync('/usr/lib/frr/zebra') ? undefined : 'FRR bgpd/zebra not installed',
  async start(env) {
    await clean(env, FIB_PROTOCOL.frr);
    mkdirSync(env.dir, { recursive: true });
    const zconf = join(env.dir, 'zebra.conf');
    const zlog = join(env.dir, 'zebra.log');
    const zsock = join(env.dir, 'zserv.api');
    writeFileSync(zconf, '! caracal bench/bgp: zebra for the FIB benchmark\nhostname receiver\nlog stdout\n');
    const frr = frrUser();
    if (!frr) throw new Error('Cannot start zebra: no `frr` user (FRR package not installed?)');
    chownSync(env.dir, frr.uid, frr.gid);
    chownSync(zconf, frr.uid, frr.gid);
    const argv = [
      '/usr/lib/frr/zebra',
      '-f',
      zconf,
      '-i',
      join(env.dir, 'zebra.pid'),
      '--vty_socket',
      env.dir,
      '-z',
      zsock,
      // As the packaged `frr` user: zebra has no "stay root" switch (bgpd's -S), and as root its privilege
      // set-up insists that root be in the frrvty group. It keeps CAP_NET_ADMIN for its netlink work.
      '-u',
      'frr',
      '-g',
      'frr',
      '-P',
      '0',
      '-s',
      '90000000', // netlink receive buffer, as FRR's own packaging sets it
    ];
    const z = spawnDaemon(env.netns, argv, zlog);
    try {
      await waitReady('zebra', z, zlog, async () => {
        if (!existsSync(zsock) || !existsSync(join(env.dir, 'zebra.vty'))) return false;
        const v = await FrrVty.connect(join(env.dir, 'zebra.vty'));
        try {
          return (await v.command('show version')).includes('FRRouting');
        } finally {
          v.close();
        }
      });
      const h = await startBgpd(env, frrBenchConfig(env), ['-z', zsock]);
      return withBaseline(env.netns, Object.assign(h, { zebra: z.proc }));
    } catch (e) {
      await stopDaemon(z.proc);
      throw e;
    }
  },
  routeCount: async (h) => fibPrefixes(h.proc.pid) - h.baseline,
  pid: (h) => h.proc.pid,
  rssPids: (h) => [h.proc.pid, h.zebra.pid],
  async stop(h) {
    h.close();
    try {
      await stopDaemon(h.proc);
    } finally {
      await stopDaemon(h.zebra);
    }
    await flushFib(h.netns, FIB_PROTOCOL.frr);
  },
};

// ---------------------------------------------------------------------------------------------------------
// caracal speaker --fib

type CaracalFib = CaracalHandle & FibExtra;

export const caracalFibReceiver: Receiver<CaracalFib> = {
  name: `${caracalReceiver.name}-fib`,
  ...POLL,
  pollMethod: POLL_METHOD,
  unavailable: () => caracalReceiver.unavailable(),
  async start(env: ReceiverEnv) {
    await clean(env, FIB_PROTOCOL.caracal);
    return withBaseline(env.netns, await startCaracal(env, ['--fib', '--fib-protocol', String(FIB_PROTOCOL.caracal)]));
  },
  routeCount: async (h) => fibPrefixes(h.proc.pid) - h.baseline,
  pid: (h) => h.proc.pid,
  async stop(h) {
    h.close();
    await stopDaemon(h.proc);
    // `--fib` leaves its routes in the kernel on exit, by design (restart without a forwarding gap).
    await flushFib(h.netns, FIB_PROTOCOL.caracal);
  },
};

/** Every FIB receiver, in table order (the first is the reference of the ratios). */
export const FIB_RECEIVERS: readonly Receiver[] = [
  birdFibReceiver,
  frrFibReceiver,
  caracalFibReceiver,
] as readonly Receiver[];
