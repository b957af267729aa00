/**
 * `caracal speaker --config FILE` as a child process inside a lab namespace, for interop tests: started with
 * `ip netns exec <ns> setpriv --pdeathsig KILL -- node --import tsx support/caracal.ts speaker --config FILE`
 * (so `ip netns exec` and setpriv exec in place and the pid we hold is the speaker's, and the kernel kills it if
 * the test process dies), its log in a file, its status API reached with curl inside the namespace.
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

function withoutTestContext(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_TEST_CONTEXT: _, ...rest } = env;
  return rest;
}

export class SpeakerProcess {
  readonly configPath: string;
  readonly logPath: string;
  readonly #lab: Lab;
  readonly #node: string;
  readonly #statusUrl: string;
  #child: ChildProcess | undefined;
  #exited: string | undefined;

  private constructor(lab: Lab, node: string, dir: string, config: SpeakerConfigInput) {
    this.#lab = lab;
    this.#node = node;
    this.configPath = join(dir, `speaker-${node}.json`);
    this.logPath = join(dir, `speaker-${node}.log`);
    const host = config.status?.address ?? '127.0.0.1';
    this.#statusUrl = `http://${host.includes(':') ? `[${host}]` : host}:${config.status?.port ?? 9179}`;
  }

  /** Writes the config and spawns the speaker in `node`'s namespace; does not wait for it. */
  static start(lab: Lab, node: string, dir: string, config: SpeakerConfigInput): SpeakerProcess {
    const s = new SpeakerProcess(lab, node, dir, config);
    s.writeConfig(config);
    const pdeath = existsSync(SETPRIV) ? [SETPRIV, '--pdeathsig', 'KILL', '--'] : [];
    const argv = lab.execArgv(node, [
      ...pdeath,
      process.execPath,
      '--import',
      'tsx',
      ENTRY,
      'speaker',
      '--config',
      s.configPath,
    ]);
    const fd = openSync(s.logPath, 'a');
    try {
      s.#child = spawn(argv[0]!, argv.slice(1), {
        cwd: REPO,
        stdio: ['ignore', fd, fd],
        // the test runner's NODE_TEST_CONTEXT would silence the speaker's log, which is what a failure quotes
        env: { ...withoutTestContext(process.env), CARACAL_LOG_LEVEL: process.env.CARACAL_LOG_LEVEL ?? 'debug' },
      });
    } finally {
      closeSync(fd);
    }
    s.#child.on('exit', (code, sig) => {
      s.#exited = sig ? `killed by ${sig}` : `exited with code ${code}`;
    });
    s.#child.on('error', (e) => {
      s.#exited = `could not be started: ${e.message}`;
    });
    return s;
  }

  /** How the process ended ("exited with code 0", "killed by SIGKILL"), or undefined while it runs. */
  get exited(): string | undefined {
    return this.#exited;
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

  /** SIGTERM (the speaker sends Cease and exits), then SIGKILL after `graceMs`. Idempotent. */
  async stop(graceMs = 2000): Promise<void> {
    const c = this.#child;
    if (!c || this.#exited !== undefined || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
  }
}
