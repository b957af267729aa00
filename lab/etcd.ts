/**
 * A real etcd-server (Debian's /usr/bin/etcd, 3.4) for tests, benchmarks and lab topologies.
 *
 * `EtcdServer.start()` launches one single-member cluster on 127.0.0.1 with free ports and a fresh temporary
 * data dir (or inside a network namespace via `ip netns exec`, listening on a given address), and resolves
 * once etcd answers `GET /health` with `{"health":"true"}`. By default the server never outlives the process
 * that started it (right for tests):
 *   - the child runs under `setpriv --pdeathsig KILL`, so the kernel kills it if this process dies hard;
 *   - an `exit` hook (and SIGINT/SIGTERM hooks that then re-raise) SIGKILLs every server still running and
 *     deletes the temporary data dirs start() made (never a caller's own dataDir);
 *   - the child and its stderr pipe are unref'd, so a forgotten server never keeps the event loop alive.
 *
 * With `detached: true` (what `caracal lab up` needs: the CLI returns, the lab keeps running) none of that
 * applies: no pdeathsig, no exit or signal hook, its own session (so a terminal's Ctrl-C does not reach it),
 * stdout and stderr appended to a log file instead of a pipe, and no data dir is ever deleted on exit. This
 * process can still stop()/kill()/remove() it; any other process stops it by pid and start time, as the lab
 * does for every process it records (`stopProcesses` in lab/netns.ts: a recycled pid is never signalled).
 *
 * Deliberately left out: multi-member clusters, TLS and auth (no test needs them yet).
 *
 * @example
 * const etcd = await EtcdServer.start();
 * try { useEndpoints(etcd.endpoints); await etcd.restart(); } finally { await etcd.remove(); }
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CaracalError, ErrorCodes } from '../common/errors.js';

const ETCD_BIN = '/usr/bin/etcd';
const ETCDCTL_BIN = '/usr/bin/etcdctl';
const SETPRIV_BIN = '/usr/bin/setpriv';
const STDERR_TAIL_BYTES = 16 * 1024;
const HEALTH_POLL_MS = 25;
const MAX_PORT_RETRIES = 5;

export interface EtcdServerOptions {
  /**
   * Kept across restart(); a fresh mkdtemp dir when unset. remove() deletes it either way; the exit hook deletes
   * only a temporary one of a server that is not detached.
   */
  dataDir?: string;
  /** Free ports are picked when unset (2379/2380 inside a netns, which has its own port space). */
  clientPort?: number;
  peerPort?: number;
  /** Member name (`--name`); default `caracal`. */
  name?: string;
  /** Run inside this network namespace (`ip netns exec <netns>`); its loopback must be up. */
  netns?: string;
  /** Address to listen on; default 127.0.0.1. */
  host?: string;
  /** How long to wait for /health; default 20 s. */
  startTimeoutMs?: number;
  /** etcd `--log-level`; default `warn`. Only the stderr tail is kept (or the log file), for error messages. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /**
   * Outlive this process: no pdeathsig, no exit or signal hook, a session of its own, output to `logPath`.
   * Stop it with stop()/kill()/remove(), or from another process by pid and start time.
   */
  detached?: boolean;
  /**
   * Append etcd's stdout and stderr to this file instead of keeping them in memory (the parent can then exit).
   * Default when detached: `<dataDir>.log`, which remove() deletes with the data dir.
   */
  logPath?: string;
  /** Called with the pid right after each spawn, before the health wait: record it before anything can fail. */
  onSpawn?: (pid: number) => void;
}

interface Running {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}

/** Every child still running, for the exit hooks. */
const live = new Set<ChildProcess>();
/** Temporary data dirs that start() made for servers that are not detached, and remove() has not deleted yet. */
const ownedDirs = new Set<string>();
let hooksInstalled = false;

function killAllSync(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
  for (const dir of ownedDirs) rmSync(dir, { recursive: true, force: true });
  ownedDirs.clear();
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = (): void => {
      killAllSync();
      process.removeListener(sig, onSignal);
      // Restore the default action (terminate) unless someone else handles the signal.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

/**
 * The child is unref'd so that a forgotten server never keeps Node alive; whoever awaits its exit must hold
 * the loop open meanwhile, or Node would exit under the await.
 */
async function awaitExit(r: Running): Promise<void> {
  r.child.ref();
  await r.exited;
}

/** The last `STDERR_TAIL_BYTES` of `path` from byte `from` on ('' when there is no such file). */
function readTail(path: string, from: number): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const start = Math.max(from, fstatSync(fd).size - STDERR_TAIL_BYTES);
    const buf = Buffer.alloc(STDERR_TAIL_BYTES);
    const n = readSync(fd, buf, 0, buf.length, start);
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

/** A TCP port that was free a moment ago (listen on port 0, read it back, close). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export class EtcdServer {
  readonly name: string;
  readonly host: string;
  readonly netns: string | undefined;
  readonly dataDir: string;
  readonly detached: boolean;
  /** Where etcd's output goes; undefined: a pipe whose tail is kept in memory. */
  readonly logPath: string | undefined;
  readonly #ownsLog: boolean;
  readonly #onSpawn: ((pid: number) => void) | undefined;
  #clientPort: number;
  #peerPort: number;
  readonly #portsGiven: boolean;
  readonly #startTimeoutMs: number;
  readonly #logLevel: string;
  #running: Running | undefined;

  private constructor(opts: Required<Pick<EtcdServerOptions, 'name' | 'host' | 'dataDir'>> & EtcdServerOptions) {
    this.name = opts.name;
    this.host = opts.host;
    this.netns = opts.netns;
    this.dataDir = opts.dataDir;
    this.detached = opts.detached === true;
    this.logPath = opts.logPath ?? (this.detached ? `${opts.dataDir}.log` : undefined);
    this.#ownsLog = this.detached && opts.logPath === undefined;
    this.#onSpawn = opts.onSpawn;
    this.#clientPort = opts.clientPort ?? 0;
    this.#peerPort = opts.peerPort ?? 0;
    this.#portsGiven = opts.clientPort !== undefined && opts.peerPort !== undefined;
    this.#startTimeoutMs = opts.startTimeoutMs ?? 20_000;
    this.#logLevel = opts.logLevel ?? 'warn';
  }

  /** Launch etcd and wait until it is healthy. Throws LAB_COMMAND_FAILED with etcd's stderr tail. */
  static async start(opts: EtcdServerOptions = {}): Promise<EtcdServer> {
    const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'caracal-etcd-')));
    const tempDir = opts.dataDir === undefined;
    if (tempDir && !opts.detached) ownedDirs.add(dataDir);
    const netnsPort = (p: number | undefined, dflt: number) => p ?? (opts.netns === undefined ? undefined : dflt);
    const server = new EtcdServer({
      ...opts,
      name: opts.name ?? 'caracal',
      host: opts.host ?? '127.0.0.1',
      dataDir,
      clientPort: netnsPort(opts.clientPort, 2379),
      peerPort: netnsPort(opts.peerPort, 2380),
    });
    try {
      await server.#launch();
    } catch (e) {
      if (tempDir) {
        ownedDirs.delete(dataDir);
        await rm(dataDir, { recursive: true, force: true });
        if (server.#ownsLog && server.logPath) await rm(server.logPath, { force: true });
      }
      throw e;
    }
    return server;
  }

  get clientPort(): number {
    return this.#clientPort;
  }
  get peerPort(): number {
    return this.#peerPort;
  }
  get clientUrl(): string {
    return `http://${this.#hostForUrl()}:${this.#clientPort}`;
  }
  /** Client URLs for the etcd3 client or CARACAL_ETCD_ENDPOINTS. */
  get endpoints(): string[] {
    return [this.clientUrl];
  }
  get running(): boolean {
    return this.#running !== undefined;
  }
  get pid(): number | undefined {
    return this.#running?.child.pid;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. Idempotent. */
  async stop(graceMs = 5_000): Promise<void> {
    const r = this.#running;
    if (!r) return;
    r.child.kill('SIGTERM');
    const timer = setTimeout(() => r.child.kill('SIGKILL'), graceMs);
    try {
      await awaitExit(r);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL (a crash: no clean shutdown); resolves once the process has exited. Keeps the data dir. */
  async kill(): Promise<void> {
    const r = this.#running;
    if (!r) return;
    r.child.kill('SIGKILL');
    await awaitExit(r);
  }

  /** Stop and start again with the same data dir, ports and name; resolves once healthy. */
  async restart(): Promise<void> {
    await this.stop();
    await this.#launch();
  }

  /** Stop and delete the data dir (and the log file, when it is the default one of a detached server). */
  async remove(): Promise<void> {
    await this.stop();
    await rm(this.dataDir, { recursive: true, force: true });
    ownedDirs.delete(this.dataDir);
    if (this.#ownsLog && this.logPath) await rm(this.logPath, { force: true });
  }

  #hostForUrl(): string {
    return this.host.includes(':') ? `[${this.host}]` : this.host;
  }

  async #launch(): Promise<void> {
    if (this.#running) return;
    for (let attempt = 0; ; attempt++) {
      if (!this.#portsGiven && (this.#clientPort === 0 || this.#peerPort === 0)) {
        this.#clientPort = await freePort(this.host);
        this.#peerPort = await freePort(this.host);
        while (this.#peerPort === this.#clientPort) this.#peerPort = await freePort(this.host);
      }
      const r = this.#spawn();
      this.#running = r;
      try {
        if (r.child.pid !== undefined) this.#onSpawn?.(r.child.pid);
        await this.#waitHealthy(r);
        return;
      } catch (e) {
        await this.#reap(r);
        // Another process took a port between our probe and etcd's bind: pick new ports and try again.
        const portTaken = /address already in use/.test(r.stderr());
        if (portTaken && !this.#portsGiven && attempt < MAX_PORT_RETRIES) {
          this.#clientPort = 0;
          this.#peerPort = 0;
          continue;
        }
        throw e;
      }
    }
  }

  /** The one place that knows etcd's command line. */
  #argv(): [string, ...string[]] {
    const peerUrl = `http://${this.#hostForUrl()}:${this.#peerPort}`;
    const etcdArgs = [
      `--name=${this.name}`,
      `--data-dir=${this.dataDir}`,
      `--listen-client-urls=${this.clientUrl}`,
      `--advertise-client-urls=${this.clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=${this.name}=${peerUrl}`,
      '--logger=zap',
      '--log-outputs=stderr',
      `--log-level=${this.#logLevel}`,
    ];
    let argv = [ETCD_BIN, ...etcdArgs];
    if (!this.detached && existsSync(SETPRIV_BIN)) argv = [SETPRIV_BIN, '--pdeathsig', 'KILL', '--', ...argv];
    // `ip netns exec` execs etcd: the pid we spawn is etcd's, which is what callers record and stop.
    if (this.netns !== undefined) argv = ['ip', 'netns', 'exec', this.netns, ...argv];
    return argv as [string, ...string[]];
  }

  #spawn(): Running {
    const [cmd, ...args] = this.#argv();
    let child: ChildProcess;
    let output: () => string;
    let spawnError = '';
    if (this.logPath === undefined) {
      child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let tail = '';
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => {
        tail = (tail + chunk).slice(-STDERR_TAIL_BYTES);
      });
      (child.stderr as { unref?: () => void } | null)?.unref?.();
      output = () => tail;
    } else {
      const logPath = this.logPath;
      mkdirSync(dirname(logPath), { recursive: true });
      const fd = openSync(logPath, 'a');
      const from = fstatSync(fd).size; // error messages quote this run's output only
      try {
        // detached: a session of its own, so neither our exit nor a signal to our process group reaches it.
        child = spawn(cmd, args, { detached: this.detached, stdio: ['ignore', fd, fd] });
      } finally {
        closeSync(fd);
      }
      output = () => readTail(logPath, from);
    }
    if (!this.detached) {
      installExitHooks();
      live.add(child);
    }
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('error', (err) => {
        spawnError = `\nspawn ${cmd} failed: ${err.message}`;
        live.delete(child);
        resolve({ code: null, signal: null });
      });
      child.once('exit', (code, signal) => {
        live.delete(child);
        if (this.#running?.child === child) this.#running = undefined;
        resolve({ code, signal });
      });
    });
    child.unref();
    return { child, exited, stderr: () => output() + spawnError };
  }

  async #reap(r: Running): Promise<void> {
    r.child.kill('SIGKILL');
    await awaitExit(r);
    if (this.#running === r) this.#running = undefined;
  }

  async #waitHealthy(r: Running): Promise<void> {
    const deadline = Date.now() + this.#startTimeoutMs;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    void r.exited.then((x) => {
      exit = x;
    });
    let lastProblem = 'no answer yet';
    for (;;) {
      if (exit) {
        throw this.#startError(`etcd exited (code ${exit.code}, signal ${exit.signal})`, r);
      }
      const problem = await this.#probe();
      if (problem === undefined) return;
      lastProblem = problem;
      if (Date.now() > deadline) {
        throw this.#startError(`not healthy after ${this.#startTimeoutMs} ms: ${lastProblem}`, r);
      }
      await new Promise((res) => setTimeout(res, HEALTH_POLL_MS));
    }
  }

  #startError(why: string, r: Running): CaracalError {
    const tail = r.stderr().trim().split('\n').slice(-20).join('\n');
    const where = this.logPath === undefined ? '' : ` (${this.logPath})`;
    return new CaracalError(
      ErrorCodes.LabCommandFailed,
      `Cannot start etcd "${this.name}" on ${this.clientUrl}${this.netns ? ` in netns "${this.netns}"` : ''}: ${why}: stderr tail${where}:\n${tail || '(empty)'}`,
      {
        details: {
          clientUrl: this.clientUrl,
          dataDir: this.dataDir,
          netns: this.netns,
          logPath: this.logPath,
          stderrTail: tail,
        },
      },
    );
  }

  /** undefined when healthy, else a short description of what the probe saw. */
  async #probe(): Promise<string | undefined> {
    if (this.netns !== undefined) return await this.#probeInNetns();
    return await new Promise<string | undefined>((resolve) => {
      const req = request(
        { host: this.host, port: this.#clientPort, path: '/health', method: 'GET', agent: false, timeout: 1_000 },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            body += c;
          });
          res.on('end', () => {
            if (res.statusCode === 200 && /"health"\s*:\s*"true"/.test(body)) resolve(undefined);
            else resolve(`GET /health answered ${res.statusCode}: ${body.trim()}`);
          });
          res.on('error', (e) => resolve(`GET /health failed: ${e.message}`));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (e) => resolve(`GET /health failed: ${e.message}`));
      req.end();
    });
  }

  /** Our process lives in another netns, so ask etcdctl from inside it. */
  async #probeInNetns(): Promise<string | undefined> {
    const args = ['netns', 'exec', this.netns!, ETCDCTL_BIN, `--endpoints=${this.clientUrl}`];
    args.push('--command-timeout=1s', 'endpoint', 'health');
    return await new Promise<string | undefined>((resolve) => {
      const child = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ETCDCTL_API: '3' } });
      let out = '';
      child.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
      });
      child.stderr?.on('data', (c: Buffer) => {
        out += c.toString();
      });
      child.once('error', (e) => resolve(`etcdctl failed: ${e.message}`));
      child.once('exit', (code) => resolve(code === 0 ? undefined : `etcdctl endpoint health: ${out.trim()}`));
    });
  }
}
