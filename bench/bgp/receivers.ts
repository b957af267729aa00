/**
 * The receivers of the BGP ingest benchmark, behind one interface so that Caracal's own speaker is just one
 * more entry: BIRD 2, FRR bgpd (without zebra), GoBGP, and `caracal speaker` (adapter written against
 * docs/speaker.md; reported as "not available yet" while bin/caracal has no `speaker` command).
 *
 * Every receiver gets the same job: one passive eBGP session (AS 65000, peer AS 65001 = the feeder), hold time
 * 90, IPv4 unicast, import everything, export nothing, and nothing else running: BIRD without a kernel
 * protocol (the lab's router config would push every route into the kernel, which is not what is measured),
 * FRR and GoBGP without zebra. A fresh daemon per run, so that VmHWM (/proc/PID/status, the process's peak
 * resident set) is that run's peak.
 *
 * Configs here are benchmark-specific on purpose (lab/routers.ts generates lab routers with short timers and a
 * kernel protocol); daemons are started the way lab/routers.ts starts them: foreground, under
 * `ip netns exec`, `setpriv --pdeathsig KILL`, so the spawned pid is the daemon and dies with us.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  ipNetnsExec,
  killProcessesSync,
  type ProcessRef,
  processStartTime,
  run,
  stopProcesses,
} from '../../lab/netns.js';
import { commandExists } from '../api.js';
import { BirdControl, FrrVty, NetnsHttp } from './control.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where and as whom a receiver runs; one per run (a fresh `dir`). */
export interface ReceiverEnv {
  /** The receiver's network namespace. */
  readonly netns: string;
  /** A fresh directory for this run's config, log and sockets. */
  readonly dir: string;
  /** The receiver's address on the link, and the feeder's. */
  readonly address: string;
  readonly peerAddress: string;
  readonly localAs: number;
  readonly peerAs: number;
  readonly routerId: string;
  readonly holdTimeSec: number;
}

export interface ReceiverHandle {
  readonly proc: ProcessRef;
  readonly logPath: string;
  /** Set when the daemon exited (with why). */
  exited(): string | undefined;
  /** Closes control connections; the daemon itself is stopped by `Receiver.stop`. */
  close(): void;
}

export interface Receiver<H extends ReceiverHandle = ReceiverHandle> {
  readonly name: string;
  /** A reason this receiver cannot run on this machine (a missing binary), or undefined. */
  unavailable(): string | undefined;
  /** Time between two `routeCount` calls while waiting; see `pollMethod`. */
  readonly pollIntervalMs: number;
  /**
   * When set, the wait between polls grows to this fraction of the time elapsed since Established (for a
   * receiver whose every answer is expensive and competes with its ingest: GoBGP walks its table).
   */
  readonly pollBackoff?: number;
  /** How `routeCount` asks, for the output's footnote. */
  readonly pollMethod: string;
  /** Writes the config, starts the daemon, resolves once it answers on its control channel. */
  start(env: ReceiverEnv): Promise<H>;
  /** Routes from the feeder now in the receiver's RIB. Cheap: called every `pollIntervalMs`. */
  routeCount(h: H): Promise<number>;
  pid(h: H): number;
  /** Every process whose peak RSS counts (FRR with zebra: bgpd and zebra); default: `pid(h)`. */
  rssPids?(h: H): readonly number[];
  stop(h: H): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Daemon processes

const live = new Set<ProcessRef>();
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => killProcessesSync([...live]));
}

const SETPRIV = '/usr/bin/setpriv';

interface Spawned {
  readonly proc: ProcessRef;
  readonly child: ChildProcess;
  exited(): string | undefined;
}

/** Starts `argv` in `netns`, stdout+stderr to `logPath`; the pid is recorded before anything can fail. */
export function spawnDaemon(netns: string, argv: readonly string[], logPath: string): Spawned {
  hookExit();
  const withParent = existsSync(SETPRIV) ? [SETPRIV, '--pdeathsig', 'KILL', '--'] : [];
  const full = ipNetnsExec(netns, [...withParent, ...argv]);
  const fd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(full[0]!, full.slice(1), { detached: true, stdio: ['ignore', fd, fd], cwd: ROOT });
  } finally {
    closeSync(fd);
  }
  let why: string | undefined;
  child.on('error', (e) => {
    why = e.message;
  });
  child.on('exit', (code, sig) => {
    why = sig ? `killed by ${sig}` : `exited with code ${code}`;
  });
  child.unref();
  if (child.pid === undefined) throw new Error(`Cannot start ${argv.join(' ')}: spawn failed`);
  const proc: ProcessRef = { pid: child.pid, startTime: processStartTime(child.pid) };
  live.add(proc);
  return { proc, child, exited: () => why };
}

/**
 * SIGTERM, SIGKILL after 2 s, then wait (up to 30 s) until it is really gone: a daemon with a GB-sized heap
 * on a loaded machine can take seconds to exit, and the next run's daemon must be able to bind port 179.
 */
export async function stopDaemon(proc: ProcessRef): Promise<void> {
  const left = await stopProcesses([proc], 2000, 30_000);
  live.delete(proc);
  if (left.length) throw new Error(`Cannot stop daemon ${proc.pid}: still alive 32 s after SIGTERM`);
}

export function logTail(path: string, chars = 1500): string {
  try {
    const t = readFileSync(path, 'utf8').trim();
    return t.length > chars ? `…${t.slice(-chars)}` : t || '(empty log)';
  } catch {
    return '(no log)';
  }
}

/** Polls `ready` every 20 ms until true; fails with the daemon's log if it exits or `timeoutMs` passes. */
export async function waitReady(
  what: string,
  s: Spawned,
  logPath: string,
  ready: () => Promise<boolean>,
  timeoutMs = 15_000,
) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const gone = s.exited();
    if (gone) throw new Error(`Cannot start ${what}: it ${gone}: ${logTail(logPath)}`);
    try {
      if (await ready()) return;
    } catch {
      // not yet
    }
    if (Date.now() > until)
      throw new Error(`Cannot start ${what}: no answer after ${timeoutMs} ms: ${logTail(logPath)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Peak resident set size (VmHWM) of a live process, in bytes; 0 when it is gone. */
export function peakRss(pid: number): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export const missing = (bins: readonly string[]): string | undefined => {
  const gone = bins.filter((b) => !commandExists(b));
  return gone.length ? `${gone.join(', ')} not installed` : undefined;
};

// ---------------------------------------------------------------------------------------------------------
// BIRD 2

export function birdBenchConfig(env: ReceiverEnv, extra: readonly string[] = []): string {
  return [
    '# caracal bench/bgp: BGP ingest receiver. No kernel protocol unless `extra` adds one (bench/bgp/fib.ts).',
    'log stderr all;',
    'timeformat protocol iso long ms;', // "Since" with milliseconds: bench/bgp/advertise.ts reads it
    `router id ${env.routerId};`,
    'protocol device {}',
    'protocol bgp feeder {',
    `  local ${env.address} as ${env.localAs};`,
    `  neighbor ${env.peerAddress} as ${env.peerAs};`,
    '  passive on;',
    `  hold time ${env.holdTimeSec};`,
    `  keepalive time ${Math.max(1, Math.floor(env.holdTimeSec / 3))};`,
    '  ipv4 { import all; export none; };',
    '}',
    ...extra,
    '',
  ].join('\n');
}

export interface BirdHandle extends ReceiverHandle {
  readonly ctl: BirdControl;
}

export const birdReceiver: Receiver<BirdHandle> = {
  name: 'bird',
  pollIntervalMs: 10,
  pollMethod: 'BIRD control socket, `show protocols all feeder` ("Routes: N imported")',
  unavailable: () => missing(['bird']),
  start: (env) => startBird(env, birdBenchConfig(env)),
  routeCount: (h) => h.ctl.imported('feeder'),
  pid: (h) => h.proc.pid,
  async stop(h) {
    h.close();
    await stopDaemon(h.proc);
  },
};

/** Writes `config`, starts BIRD in `env.netns`, resolves once it answers on its control socket. */
export async function startBird(env: ReceiverEnv, config: string): Promise<BirdHandle> {
  mkdirSync(env.dir, { recursive: true });
  const conf = join(env.dir, 'bird.conf');
  const sock = join(env.dir, 'bird.ctl');
  const logPath = join(env.dir, 'bird.log');
  writeFileSync(conf, config);
  const s = spawnDaemon(env.netns, ['bird', '-f', '-c', conf, '-s', sock, '-P', join(env.dir, 'bird.pid')], logPath);
  let ctl: BirdControl | undefined;
  try {
    await waitReady('bird', s, logPath, async () => {
      if (!existsSync(sock)) return false;
      ctl ??= await BirdControl.connect(sock);
      return /Daemon is up and running/.test(await ctl.ask('show status'));
    });
  } catch (e) {
    ctl?.close();
    await stopDaemon(s.proc);
    throw e;
  }
  const c = ctl as BirdControl;
  return { proc: s.proc, logPath, exited: s.exited, ctl: c, close: () => c.close() };
}

// ---------------------------------------------------------------------------------------------------------
// FRR bgpd

export function frrBenchConfig(env: ReceiverEnv): string {
  const keepalive = Math.max(1, Math.floor(env.holdTimeSec / 3));
  return [
    '! caracal bench/bgp: BGP ingest receiver (bgpd without zebra)',
    'frr defaults traditional',
    'hostname receiver',
    'log stdout',
    '!',
    `router bgp ${env.localAs}`,
    ` bgp router-id ${env.routerId}`,
    ' no bgp ebgp-requires-policy',
    ' no bgp default ipv4-unicast',
    ` neighbor ${env.peerAddress} remote-as ${env.peerAs}`,
    ` neighbor ${env.peerAddress} passive`,
    ` neighbor ${env.peerAddress} timers ${keepalive} ${env.holdTimeSec}`,
    ' !',
    ' address-family ipv4 unicast',
    `  neighbor ${env.peerAddress} activate`,
    ' exit-address-family',
    '!',
    '',
  ].join('\n');
}

export interface FrrHandle extends ReceiverHandle {
  readonly vty: FrrVty;
  readonly peer: string;
}

export const frrReceiver: Receiver<FrrHandle> = {
  name: 'frr',
  pollIntervalMs: 10,
  pollMethod: 'bgpd vty socket, `show bgp ipv4 unicast summary json` (pfxRcd)',
  unavailable: () => (existsSync('/usr/lib/frr/bgpd') ? undefined : '/usr/lib/frr/bgpd not installed'),
  start: (env) =>
    startBgpd(env, frrBenchConfig(env), [
      '-Z', // no zebra
      '-n', // no kernel
    ]),
  async routeCount(h) {
    const j = JSON.parse(await h.vty.command('show bgp ipv4 unicast summary json')) as {
      peers?: Record<string, { pfxRcd?: number }>;
    };
    return j.peers?.[h.peer]?.pfxRcd ?? 0;
  },
  pid: (h) => h.proc.pid,
  async stop(h) {
    h.close();
    await stopDaemon(h.proc);
  },
};

/** Writes `config`, starts bgpd with `zebraArgs` (-Z -n: alone; -z PATH: with zebra), waits for its vty. */
export async function startBgpd(env: ReceiverEnv, config: string, zebraArgs: readonly string[]): Promise<FrrHandle> {
  mkdirSync(env.dir, { recursive: true });
  const conf = join(env.dir, 'bgpd.conf');
  const logPath = join(env.dir, 'bgpd.log');
  writeFileSync(conf, config);
  const argv = [
    '/usr/lib/frr/bgpd',
    '-f',
    conf,
    '-i',
    join(env.dir, 'bgpd.pid'),
    '--vty_socket',
    env.dir,
    ...zebraArgs,
    '-S', // stay root
    '-P',
    '0', // no vty TCP port
    '-l',
    env.address,
  ];
  const s = spawnDaemon(env.netns, argv, logPath);
  const sock = join(env.dir, 'bgpd.vty');
  let vty: FrrVty | undefined;
  try {
    await waitReady('bgpd', s, logPath, async () => {
      if (!existsSync(sock)) return false;
      vty ??= await FrrVty.connect(sock);
      return (await vty.command('show bgp ipv4 unicast summary json')).includes(env.peerAddress);
    });
  } catch (e) {
    vty?.close();
    await stopDaemon(s.proc);
    throw e;
  }
  const v = vty as FrrVty;
  return { proc: s.proc, logPath, exited: s.exited, vty: v, peer: env.peerAddress, close: () => v.close() };
}

// ---------------------------------------------------------------------------------------------------------
// GoBGP

export function gobgpBenchConfig(env: ReceiverEnv): string {
  return [
    '# caracal bench/bgp: BGP ingest receiver',
    '[global.config]',
    `  as = ${env.localAs}`,
    `  router-id = "${env.routerId}"`,
    // One listener on the link address: the default listens on 0.0.0.0 and ::, and the two binds can clash.
    `  local-address-list = ["${env.address}"]`,
    '',
    '[[neighbors]]',
    '  [neighbors.config]',
    `    neighbor-address = "${env.peerAddress}"`,
    `    peer-as = ${env.peerAs}`,
    '  [neighbors.transport.config]',
    '    passive-mode = true',
    '  [neighbors.timers.config]',
    `    hold-time = ${env.holdTimeSec}`,
    `    keepalive-interval = ${Math.max(1, Math.floor(env.holdTimeSec / 3))}`,
    '  [[neighbors.afi-safis]]',
    '    [neighbors.afi-safis.config]',
    '      afi-safi-name = "ipv4-unicast"',
    '',
  ].join('\n');
}

export interface GobgpHandle extends ReceiverHandle {
  readonly target: string;
}

const gobgp = (h: { target: string }, args: readonly string[]) =>
  run(['gobgp', '--target', h.target, ...args], { check: false, timeoutMs: 10_000 });

export const gobgpReceiver: Receiver<GobgpHandle> = {
  name: 'gobgp',
  pollIntervalMs: 40,
  // Every GoBGP query that can count the table walks it on the server's main loop (≈0.5 s at 1M routes even
  // when idle; `neighbor -j` takes 6–9 s) and so slows the ingest it measures: poll less often as time goes by.
  pollBackoff: 0.05,
  pollMethod: '`gobgp global rib summary -a ipv4` (Destination count; a CLI process per poll; each walks the table)',
  unavailable: () => missing(['gobgpd', 'gobgp']),
  async start(env) {
    mkdirSync(env.dir, { recursive: true });
    const conf = join(env.dir, 'gobgpd.toml');
    const logPath = join(env.dir, 'gobgpd.log');
    const sock = join(env.dir, 'gobgp.sock');
    writeFileSync(conf, gobgpBenchConfig(env));
    const argv = ['gobgpd', '-f', conf, '-t', 'toml', '-p', '--api-hosts', `unix://${sock}`, '--pprof-disable'];
    const s = spawnDaemon(env.netns, argv, logPath);
    const target = `unix://${sock}`;
    try {
      await waitReady('gobgpd', s, logPath, async () => {
        if (!existsSync(sock)) return false;
        const r = await gobgp({ target }, ['neighbor', '-j']);
        return r.code === 0 && r.stdout.includes(env.peerAddress);
      });
    } catch (e) {
      await stopDaemon(s.proc);
      throw e;
    }
    return { proc: s.proc, logPath, exited: s.exited, target, close: () => {} };
  },
  async routeCount(h) {
    const r = await gobgp(h, ['global', 'rib', 'summary', '-a', 'ipv4']);
    const m = /Destination:\s*(\d+)/.exec(r.stdout);
    return m ? Number(m[1]) : 0;
  },
  pid: (h) => h.proc.pid,
  async stop(h) {
    await stopDaemon(h.proc);
  },
};

// ---------------------------------------------------------------------------------------------------------
// Caracal's speaker (docs/speaker.md), once it exists

const CARACAL = join(ROOT, 'bin', 'caracal');
const CARACAL_SOURCE = join(ROOT, 'node', 'cli.ts');
/**
 * `CARACAL_BGP_BENCH_CARACAL=source` runs the speaker from the TypeScript sources through tsx instead of the
 * built bin/caracal (dist/), for trying a change without a build. The row is then named `caracal-tsx`: the
 * process also holds tsx's loader, so its RSS is a little higher than the built one's.
 */
const FROM_SOURCE = process.env.CARACAL_BGP_BENCH_CARACAL === 'source';
/** `CARACAL_BGP_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"`: extra node flags for the speaker. */
const NODE_ARGS = (process.env.CARACAL_BGP_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
export const caracalArgv = (): string[] =>
  FROM_SOURCE
    ? [
        process.execPath,
        ...NODE_ARGS,
        '--import',
        'tsx',
        '-e', // node/cli.ts exports main() and does not run it when loaded as the entry point
        `import(${JSON.stringify(pathToFileURL(CARACAL_SOURCE).href)}).then((m) => m.main(process.argv.slice(1)))`,
      ]
    : [process.execPath, ...NODE_ARGS, CARACAL];
const STATUS_PORT = 9179;
let caracalSupport: string | undefined | null = null;

/**
 * Undefined when `caracal speaker` exists; else why not (cached). The probe is `caracal speaker --help`: the
 * speaker answers it with its usage (and exit code 2: no --config), an older build with `unknown command`.
 */
export function caracalSpeakerUnavailable(): string | undefined {
  if (caracalSupport !== null) return caracalSupport;
  if (!existsSync(FROM_SOURCE ? CARACAL_SOURCE : CARACAL))
    caracalSupport = `not available yet (no ${FROM_SOURCE ? 'node/cli.ts' : 'bin/caracal'})`;
  else {
    const [file, ...args] = caracalArgv() as [string, ...string[]];
    const r = spawnSync(file, [...args, 'speaker', '--help'], { encoding: 'utf8', timeout: 30_000, cwd: ROOT });
    const said = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    const known = !r.error && r.status !== null && !/unknown command|not built yet/.test(said);
    caracalSupport = known
      ? undefined
      : FROM_SOURCE
        ? 'not available yet (node/cli.ts has no `speaker` command)'
        : 'not available yet (bin/caracal has no `speaker` command; if the sources have it: `npm run build`, or CARACAL_BGP_BENCH_CARACAL=source)';
  }
  return caracalSupport;
}

export function caracalBenchConfig(env: ReceiverEnv): string {
  const cfg = {
    asn: env.localAs,
    routerId: env.routerId,
    listen: { address: env.address, port: 179 },
    status: { address: '127.0.0.1', port: STATUS_PORT },
    rfc8212: false,
    peers: [
      {
        address: env.peerAddress,
        asn: env.peerAs,
        passive: true,
        gracefulRestart: false,
        import: 'accept-all',
        export: 'reject-all',
        holdTimeSec: env.holdTimeSec,
        families: ['ipv4-unicast'],
      },
    ],
  };
  return `${JSON.stringify(cfg, null, 2)}\n`;
}

export interface CaracalHandle extends ReceiverHandle {
  readonly http: NetnsHttp;
  readonly peer: string;
}

interface PeerJson {
  address?: string;
  state?: string;
  prefixesReceived?: number;
  prefixesAccepted?: number;
}

export const caracalReceiver: Receiver<CaracalHandle> = {
  name: FROM_SOURCE ? 'caracal-tsx' : 'caracal',
  pollIntervalMs: 10,
  pollMethod: 'status API `GET /bgp/peers` (prefixesAccepted), from a helper inside the namespace',
  unavailable: caracalSpeakerUnavailable,
  start: (env) => startCaracal(env, []),
  async routeCount(h) {
    const peers = JSON.parse(await h.http.get(`http://127.0.0.1:${STATUS_PORT}/bgp/peers`)) as PeerJson[];
    return peers.find((p) => p.address === h.peer)?.prefixesAccepted ?? 0;
  },
  pid: (h) => h.proc.pid,
  async stop(h) {
    h.close();
    await stopDaemon(h.proc);
  },
};

/** Writes the config, starts `caracal speaker` with `extraArgs` (e.g. --fib), waits for its status API. */
export async function startCaracal(env: ReceiverEnv, extraArgs: readonly string[]): Promise<CaracalHandle> {
  mkdirSync(env.dir, { recursive: true });
  const conf = join(env.dir, 'speaker.json');
  const logPath = join(env.dir, 'speaker.log');
  writeFileSync(conf, caracalBenchConfig(env));
  // node runs the speaker in the pid we spawn (ip netns exec and setpriv exec): its VmHWM is the one.
  const s = spawnDaemon(env.netns, [...caracalArgv(), 'speaker', '--config', conf, ...extraArgs], logPath);
  const http = new NetnsHttp(env.netns);
  try {
    await waitReady('caracal speaker', s, logPath, async () => {
      const peers = JSON.parse(await http.get(`http://127.0.0.1:${STATUS_PORT}/bgp/peers`)) as PeerJson[];
      return peers.some((p) => p.address === env.peerAddress);
    });
  } catch (e) {
    http.close();
    await stopDaemon(s.proc);
    throw e;
  }
  return { proc: s.proc, logPath, exited: s.exited, http, peer: env.peerAddress, close: () => http.close() };
}

/** Every receiver, in table order. */
export const RECEIVERS: readonly Receiver[] = [
  birdReceiver,
  frrReceiver,
  gobgpReceiver,
  caracalReceiver,
] as readonly Receiver[];
