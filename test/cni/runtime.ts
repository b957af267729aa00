/**
 * A container runtime's side of CNI, as libcni does it (containernetworking/cni libcni/api.go), for tests and
 * benchmarks: load a conflist, exec each plugin from CNI_PATH with the CNI_* environment and the plugin's
 * configuration on stdin (name and cniVersion injected, capability arguments as runtimeConfig, the previous
 * plugin's result as prevResult), cache the final ADD result under `<cacheDir>/results/`, feed it to CHECK and
 * DEL, run DEL in reverse order, and remove the cache after DEL. Plugins run inside the "node" namespace
 * (`nsenter --net`), as the runtime on that node would run them.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { closeFd, openNetns, withNetns } from '../../kernel/netns.js';

export interface ConfList {
  cniVersion: string;
  name: string;
  plugins: Record<string, unknown>[];
}

export interface Attachment {
  containerId: string;
  /** Path of the pod's network namespace. */
  netns: string;
  ifname?: string;
  /** CNI_ARGS pairs (IgnoreUnknown=1 is added, as runtimes do). */
  args?: Record<string, string>;
  /** Capability arguments (portMappings, bandwidth, ...), given to plugins that declare the capability. */
  capabilityArgs?: Record<string, unknown>;
}

export interface ExecOutcome {
  code: number;
  stdout: string;
  stderr: string;
  /** Parsed stdout (a result or a CNI error object), when it is JSON. */
  json?: Record<string, unknown> | undefined;
}

export class CniError extends Error {
  readonly outcome: ExecOutcome;
  readonly cniCode: number | undefined;
  constructor(what: string, o: ExecOutcome) {
    super(`${what} failed (exit ${o.code}): ${o.stdout.trim() || o.stderr.trim()}`);
    this.outcome = o;
    this.cniCode = typeof o.json?.code === 'number' ? o.json.code : undefined;
  }
}

export class CniRuntime {
  readonly binDirs: string[];
  readonly cacheDir: string;
  /** The namespace plugins run in (the node); the caller's own when unset. */
  readonly callerNetns: string | undefined;

  constructor(opts: { binDirs: string[]; cacheDir: string; callerNetns?: string }) {
    this.binDirs = opts.binDirs;
    this.cacheDir = opts.cacheDir;
    this.callerNetns = opts.callerNetns;
  }

  find(type: string): string {
    for (const d of this.binDirs) {
      const p = join(d, type);
      try {
        accessSync(p, constants.X_OK);
        return p;
      } catch {}
    }
    throw new Error(`plugin ${type} not in ${this.binDirs.join(':')}`);
  }

  /** Exec one plugin binary, exactly: environment, stdin, stdout. */
  exec(type: string, env: Record<string, string>, stdin: string): Promise<ExecOutcome> {
    const file = this.find(type);
    const argv = this.callerNetns ? ['nsenter', `--net=/run/netns/${this.callerNetns}`, '--', file] : [file];
    return new Promise((resolve, reject) => {
      const child = spawn(argv[0] as string, argv.slice(1), {
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_PATH: this.binDirs.join(':'), ...env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.on('error', reject);
      child.on('close', (code) => {
        const stdout = Buffer.concat(out).toString('utf8');
        let json: Record<string, unknown> | undefined;
        try {
          json = stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : undefined;
        } catch {}
        resolve({ code: code ?? -1, stdout, stderr: Buffer.concat(err).toString('utf8'), json });
      });
      child.stdin.on('error', () => {});
      child.stdin.end(stdin);
    });
  }

  #env(command: string, a: Attachment): Record<string, string> {
    const args = Object.entries({ IgnoreUnknown: '1', ...(a.args ?? {}) })
      .map(([k, v]) => `${k}=${v}`)
      .join(';');
    return {
      CNI_COMMAND: command,
      CNI_CONTAINERID: a.containerId,
      CNI_NETNS: a.netns,
      CNI_IFNAME: a.ifname ?? 'eth0',
      CNI_ARGS: args,
    };
  }

  /** libcni buildOneConfig: inject name, cniVersion, prevResult and the runtimeConfig of declared capabilities. */
  #pluginConf(list: ConfList, plugin: Record<string, unknown>, a: Attachment, prev?: unknown): string {
    const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
    const caps = plugin.capabilities as Record<string, boolean> | undefined;
    const rc: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(a.capabilityArgs ?? {})) if (caps?.[k]) rc[k] = v;
    if (Object.keys(rc).length) conf.runtimeConfig = rc;
    delete conf.capabilities;
    if (prev !== undefined) conf.prevResult = prev;
    return JSON.stringify(conf);
  }

  cachePath(list: ConfList, a: Attachment): string {
    return join(this.cacheDir, 'results', `${list.name}-${a.containerId}-${a.ifname ?? 'eth0'}`);
  }

  cachedResult(list: ConfList, a: Attachment): Record<string, unknown> | undefined {
    try {
      return (JSON.parse(readFileSync(this.cachePath(list, a), 'utf8')) as { result: Record<string, unknown> }).result;
    } catch {
      return undefined;
    }
  }

  async add(list: ConfList, a: Attachment): Promise<Record<string, unknown>> {
    let prev: Record<string, unknown> | undefined;
    for (const p of list.plugins) {
      const o = await this.exec(p.type as string, this.#env('ADD', a), this.#pluginConf(list, p, a, prev));
      if (o.code !== 0) throw new CniError(`ADD ${p.type}`, o);
      prev = o.json;
    }
    mkdirSync(join(this.cacheDir, 'results'), { recursive: true });
    writeFileSync(
      this.cachePath(list, a),
      JSON.stringify({ kind: 'cniCacheV1', containerId: a.containerId, ifName: a.ifname ?? 'eth0', result: prev }),
    );
    return prev ?? {};
  }

  async check(list: ConfList, a: Attachment): Promise<void> {
    const prev = this.cachedResult(list, a);
    if (!prev) throw new Error(`no cached result for ${a.containerId}`);
    for (const p of list.plugins) {
      const o = await this.exec(p.type as string, this.#env('CHECK', a), this.#pluginConf(list, p, a, prev));
      if (o.code !== 0) throw new CniError(`CHECK ${p.type}`, o);
    }
  }

  async del(list: ConfList, a: Attachment): Promise<void> {
    const prev = this.cachedResult(list, a);
    for (const p of [...list.plugins].reverse()) {
      const o = await this.exec(p.type as string, this.#env('DEL', a), this.#pluginConf(list, p, a, prev));
      if (o.code !== 0) throw new CniError(`DEL ${p.type}`, o);
    }
    rmSync(this.cachePath(list, a), { force: true });
  }

  /** GC (1.1.0): every plugin with the attachments still valid. */
  async gc(list: ConfList, valid: { containerID: string; ifname: string }[]): Promise<void> {
    for (const p of list.plugins) {
      const conf = { ...p, name: list.name, cniVersion: list.cniVersion, 'cni.dev/valid-attachments': valid };
      const o = await this.exec(p.type as string, { CNI_COMMAND: 'GC' }, JSON.stringify(conf));
      if (o.code !== 0) throw new CniError(`GC ${p.type}`, o);
    }
  }

  async status(list: ConfList): Promise<void> {
    for (const p of list.plugins) {
      const conf = { ...p, name: list.name, cniVersion: list.cniVersion };
      const o = await this.exec(p.type as string, { CNI_COMMAND: 'STATUS' }, JSON.stringify(conf));
      if (o.code !== 0) throw new CniError(`STATUS ${p.type}`, o);
    }
  }
}

/** A CNI_PATH directory holding `caracal`: the TypeScript source run through tsx (tests run unbuilt code). */
export function writePluginShim(dir: string, root: string): string {
  mkdirSync(dir, { recursive: true });
  const loader = join(root, 'node_modules/tsx/dist/loader.mjs');
  const main = join(root, 'cni/main.ts');
  const p = join(dir, 'caracal');
  writeFileSync(
    p,
    `#!/bin/sh\nexec "${process.execPath}" --import "file://${loader}" -e "import('${main}').then((m) => m.main())"\n`,
    { mode: 0o755 },
  );
  return dir;
}

/**
 * A TCP listener on `port` inside namespace `ns` that forwards each connection to `127.0.0.1:targetPort` in
 * ours: plugins run in the node's namespace, whose loopback is not the one our etcd or API server listens on.
 * The socket is created with the thread switched into `ns` (kernel/netns.ts); `listen(port)` without a host
 * binds synchronously (with a host it would defer to a lookup, after the switch back).
 */
export async function forwardIntoNetns(ns: string, port: number, targetPort: number): Promise<Server> {
  const server = createServer((c) => {
    const up = connect(targetPort, '127.0.0.1');
    c.pipe(up).pipe(c);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
  });
  const fd = openNetns(`/run/netns/${ns}`);
  try {
    withNetns(fd, () => server.listen(port));
  } finally {
    closeFd(fd);
  }
  if (!server.listening) await new Promise((r) => server.once('listening', r));
  return server;
}
