/**
 * `caracal speaker --config FILE [args]` as a child process inside a lab namespace, for the lab tests
 * (interop, route reflection, graceful restart): started with
 * `ip netns exec <ns> setpriv --pdeathsig KILL -- node --import tsx support/caracal.ts speaker --config FILE [args]`
 * (so `ip netns exec` and setpriv exec in place and the pid we hold is the speaker's, and the kernel kills it if
 * the test process dies), its log in a file, its status API reached with curl inside the namespace.
 * `reload()` rewrites the config and sends SIGHUP; `signal()` / `start()` let a test stop it the way a restart
 * would (SIGTERM) and start it again on the same files; `stop()` / `kill()` are for cleanup.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../../../lab/lab.js';
import type { BgpPeerStatus, BgpRouteStatus, BgpRoutesResponse } from '../../../model/bgp-status.js';
import type { SpeakerConfigInput } from '../../../model/speaker-config.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const ENTRY = fileURLToPath(new URL('./caracal.ts', import.meta.url));
const SETPRIV = '/usr/bin/setpriv';

export class SpeakerProcess {
  readonly configPath: string;
  readonly logPath: string;
  readonly #lab: Lab;
  readonly #node: string;
  readonly #statusUrl: string;
  readonly #args: readonly string[];
  #child: ChildProcess | undefined;
  #exit: Promise<string> | undefined;
  #exited: string | undefined;

  /**
   * Writes the config into `dir` and spawns the speaker in `node`'s namespace, with `args` after
   * `--config FILE` (e.g. `--graceful-restart --state-dir D`); does not wait for it.
   */
  constructor(lab: Lab, node: string, dir: string, config: SpeakerConfigInput, args: readonly string[] = []) {
    this.#lab = lab;
    this.#node = node;
    this.#args = args;
    this.configPath = join(dir, `speaker-${node}.json`);
    this.logPath = join(dir, `speaker-${node}.log`);
    const host = config.status?.address ?? '127.0.0.1';
    this.#statusUrl = `http://${host.includes(':') ? `[${host}]` : host}:${config.status?.port ?? 9179}`;
    this.writeConfig(config);
    this.start();
  }

  /** (Re)starts the process on the current config file. */
  start(): void {
    if (this.running) throw new Error(`The speaker in "${this.#node}" is already running`);
    const pdeath = existsSync(SETPRIV) ? [SETPRIV, '--pdeathsig', 'KILL', '--'] : [];
    const argv = this.#lab.execArgv(this.#node, [
      ...pdeath,
      process.execPath,
      '--import',
      'tsx',
      ENTRY,
      'speaker',
      '--config',
      this.configPath,
      ...this.#args,
    ]);
    const fd = openSync(this.logPath, 'a');
    let child: ChildProcess;
    try {
      // the test runner's NODE_TEST_CONTEXT would silence the speaker's log, which is what a failure quotes
      const env: NodeJS.ProcessEnv = { ...process.env, CARACAL_LOG_LEVEL: process.env.CARACAL_LOG_LEVEL ?? 'debug' };
      delete env.NODE_TEST_CONTEXT;
      child = spawn(argv[0]!, argv.slice(1), { cwd: REPO, env, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    this.#child = child;
    this.#exited = undefined;
    this.#exit = new Promise<string>((resolve) => {
      child.once('exit', (code, sig) => {
        this.#exited = sig ? `killed by ${sig}` : `exited with code ${code}`;
        resolve(this.#exited);
      });
      child.once('error', (e) => {
        this.#exited = `could not be started: ${e.message}`;
        resolve(this.#exited);
      });
    });
  }

  /** How the process ended ("exited with code 0", "killed by SIGKILL"), or undefined while it runs. */
  get exited(): string | undefined {
    return this.#exited;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#exited === undefined;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  writeConfig(config: SpeakerConfigInput): void {
    writeFileSync(this.configPath, `${JSON.stringify(config, null, 2)}\n`);
  }

  /** Rewrites the config file and sends SIGHUP: the speaker re-reads `originate`. */
  reload(config: SpeakerConfigInput): void {
    this.writeConfig(config);
    this.#assertRunning();
    this.#child!.kill('SIGHUP');
  }

  logTail(chars = 3000): string {
    try {
      const t = readFileSync(this.logPath, 'utf8');
      return t.length > chars ? `…${t.slice(-chars)}` : t;
    } catch {
      return '(no log)';
    }
  }

  #assertRunning(): void {
    if (this.#exited !== undefined)
      throw new Error(`The speaker in "${this.#node}" ${this.#exited}; its log:\n${this.logTail()}`);
  }

  /** GET on the status API from inside the namespace (curl). Throws while the API does not answer. */
  async get<T>(path: string): Promise<T> {
    this.#assertRunning();
    const r = await this.#lab.exec(this.#node, ['curl', '-sS', '--max-time', '2', `${this.#statusUrl}${path}`], {
      timeoutMs: 5000,
    });
    if (r.code !== 0) throw new Error(`GET ${path} from the speaker's status API failed: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as T;
  }

  peers(): Promise<BgpPeerStatus[]> {
    return this.get<BgpPeerStatus[]>('/bgp/peers');
  }

  async routes(): Promise<BgpRouteStatus[]> {
    return (await this.get<BgpRoutesResponse>('/bgp/routes?limit=10000')).routes;
  }

  async route(prefix: string): Promise<BgpRouteStatus | undefined> {
    return (await this.get<BgpRoutesResponse>(`/bgp/routes?prefix=${encodeURIComponent(prefix)}`)).routes[0];
  }

  /** Sends `sig` and waits (bounded) for the exit; SIGKILL if it has not exited after `graceMs`. */
  async signal(sig: NodeJS.Signals, graceMs = 5000): Promise<string> {
    const c = this.#child;
    const exit = this.#exit;
    if (!c || !exit) throw new Error('The speaker was never started');
    if (this.#exited !== undefined) return this.#exited;
    c.kill(sig);
    const timer = setTimeout(() => c.kill('SIGKILL'), graceMs);
    try {
      return await exit;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM (the speaker sends Cease and exits), then SIGKILL after `graceMs`. Idempotent. */
  async stop(graceMs = 2000): Promise<void> {
    if (!this.running) return;
    await this.signal('SIGTERM', graceMs);
  }

  /** For cleanup: SIGKILL if still running. Idempotent, never throws. */
  async kill(): Promise<void> {
    if (!this.running) return;
    try {
      await this.signal('SIGKILL', 1000);
    } catch {
      // already gone
    }
  }
}
