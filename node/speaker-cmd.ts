/**
 * `caracal speaker --config FILE`: the BGP speaker alone (docs/speaker.md). Reads and validates the config,
 * wires the kernel's TCP-MD5 into the sessions, starts the status API, on SIGHUP re-reads `originate` from
 * the file, and on SIGTERM/SIGINT sends Cease to every peer before exiting.
 *
 * With `--graceful-restart`, SIGTERM is a restart (RFC 4724 §4): peers with graceful restart get no Cease
 * (the process exit closes their connections, and they keep our routes, stale), and a marker file
 * `<state dir>/<routerId>.gr` records the time; the next start, when the marker is younger than
 * `gracefulRestartTimeSec`, sets the Restart State bit in its first OPEN to each peer. SIGINT always stops
 * with Cease.
 *
 * With `--fib [--fib-protocol N]`, the speaker's best learned routes go to the kernel FIB of the network
 * namespace it runs in (docs/design/felix-routes.md): the Speaker's RouteFeed feeds felix's RouteTable, which
 * runs in a worker thread (felix/dataplane/route-worker.ts), owned by rtm_protocol N (default 44). Stopping leaves the routes in place (the dataplane keeps forwarding
 * while the agent restarts); the next start keeps them for `gracefulRestartTimeSec`, then sweeps those not
 * re-learned.
 *
 * Memory (issue 3: peak RSS at 1M prefixes against BIRD's; docs/design/bgp-bench.md). The process loads only
 * what runs for its whole life: the config is read and validated in a short-lived child process
 * (`loadSpeakerConfigIsolated`), because the YAML parser and zod with the model's schemas would otherwise
 * stay resident (~20 MiB of a ~70 MiB idle process; ES modules are never unloaded); koffi (TCP-MD5, netlink)
 * and felix's route table load only when a peer has a password or `--fib` is given. node/cli.ts also keeps
 * V8's young generation small for this command (see SPEAKER_V8_FLAGS there).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CaracalError, describeError, type ErrorCode, ErrorCodes, isCaracalError } from '../common/errors.js';
import type { SpeakerConfig } from '../model/speaker-config.js';
import type { Md5Port } from '../speaker/session/peer.js';

export const SPEAKER_USAGE =
  'Usage: caracal speaker --config FILE [--graceful-restart] [--state-dir DIR] [--fib [--fib-protocol N]]   (YAML or JSON; see docs/speaker.md)';

/**
 * rtm_protocol of the routes `--fib` installs: free in /etc/iproute2/rt_protos, rt_protos.d/frr.conf
 * (186-197) and linux/rtnetlink.h's RTPROT_* (0-4, 8-18, 42 babel, 99 openr, 186-192), and not Calico
 * Felix's 80, so the two never adopt each other's routes. `ip route show proto 44` lists ours.
 */
export const DEFAULT_FIB_PROTOCOL = 44;
/** Where `--graceful-restart` keeps its restart marker unless `--state-dir` says otherwise. */
export const DEFAULT_SPEAKER_STATE_DIR = '/run/caracal/speaker';

/** The graceful-restart marker of a speaker: written on a restart-style SIGTERM, consumed by the next start. */
export function restartMarkerPath(stateDir: string, routerId: string): string {
  return join(stateDir, `${routerId}.gr`);
}

/**
 * True when `file` records a restart-style stop less than `restartTimeSec` ago (the peers still hold our
 * routes). The marker is removed either way: the R bit belongs to the one start right after the stop.
 */
export function consumeRestartMarker(file: string, restartTimeSec: number, nowMs = Date.now()): boolean {
  let stoppedAtMs: number;
  try {
    const m = JSON.parse(readFileSync(file, 'utf8')) as { stoppedAt?: unknown };
    stoppedAtMs = typeof m.stoppedAt === 'string' ? Date.parse(m.stoppedAt) : Number.NaN;
  } catch {
    return false;
  } finally {
    rmSync(file, { force: true });
  }
  const age = nowMs - stoppedAtMs;
  return Number.isFinite(age) && age >= 0 && age < restartTimeSec * 1000;
}

function flagValue(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--'))
    throw new CaracalError(ErrorCodes.Usage, `Cannot start the speaker: ${name} needs a value\n${SPEAKER_USAGE}`);
  return v;
}

/** The kernel's TCP-MD5 (kernel/tcp-md5.ts, through koffi), loaded on first use. */
export async function kernelMd5(): Promise<Md5Port> {
  const { createMd5Socket, setTcpMd5 } = await import('../kernel/tcp-md5.js');
  return {
    setKey: (fd, peerAddress, key) => setTcpMd5(fd, peerAddress, key),
    createSocket: (family, peerAddress, key) => createMd5Socket(family, peerAddress, key),
  };
}

/** Reads and validates a speaker config in this process (loads the YAML parser and the zod schemas). */
export async function loadSpeakerConfig(file: string): Promise<SpeakerConfig> {
  const [{ parse: parseYaml }, { SpeakerConfig }, { parseWithSchema }] = await Promise.all([
    import('yaml'),
    import('../model/speaker-config.js'),
    import('../model/validate.js'),
  ]);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CaracalError(ErrorCodes.InvalidConfig, `Cannot load speaker config "${file}": ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text); // YAML is a superset of JSON
  } catch (e) {
    throw new CaracalError(
      ErrorCodes.InvalidConfig,
      `Cannot load speaker config "${file}": not YAML or JSON: ${(e as Error).message}`,
    );
  }
  return parseWithSchema(SpeakerConfig, raw, `load speaker config "${file}"`);
}

/** What the config child writes on stdout: one JSON document. */
type ConfigCheckReply =
  | { readonly ok: true; readonly config: SpeakerConfig }
  | { readonly ok: false; readonly code: string; readonly message: string; readonly details?: Record<string, unknown> };

/** The config child's body: `loadSpeakerConfig(file)`, answered as one JSON document on stdout. */
export async function configCheckChild(file: string): Promise<void> {
  let reply: ConfigCheckReply;
  try {
    reply = { ok: true, config: await loadSpeakerConfig(file) };
  } catch (e) {
    reply = isCaracalError(e)
      ? { ok: false, code: e.code, message: e.message, details: e.details }
      : {
          ok: false,
          code: ErrorCodes.InvalidConfig,
          message: `Cannot load speaker config "${file}": ${describeError(e)}`,
        };
  }
  process.stdout.write(JSON.stringify(reply));
}

/** Node flags of this process that decide how modules load (the tsx loader when run from the sources). */
const LOADER_FLAGS = new Set([
  '--import',
  '--require',
  '-r',
  '--loader',
  '--experimental-loader',
  '--conditions',
  '-C',
]);

/**
 * The loader flags of `execArgv`, and only those: a debugger port, `--test` or profiling flags must not be
 * inherited by the config child.
 */
export function childExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const a = execArgv[i]!;
    const eq = a.indexOf('=');
    if (LOADER_FLAGS.has(eq < 0 ? a : a.slice(0, eq))) {
      out.push(a);
      if (eq < 0 && i + 1 < execArgv.length) out.push(execArgv[++i]!);
    }
  }
  return out;
}

/**
 * `loadSpeakerConfig(file)` in a child process: same result, same errors, but the parser and the schemas
 * never enter this (long-lived) process. The config is plain JSON data (strings, numbers, booleans, arrays,
 * objects), so it survives the trip unchanged. Asynchronous, so a SIGHUP reload does not stall the sessions.
 */
export function loadSpeakerConfigIsolated(file: string, timeoutMs = 60_000): Promise<SpeakerConfig> {
  const code = `import(${JSON.stringify(import.meta.url)}).then((m) => m.configCheckChild(process.argv[1]))`;
  const argv = [...childExecArgv(), '--input-type=module', '-e', code, file];
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      argv,
      {
        encoding: 'utf8',
        maxBuffer: 1 << 30,
        timeout: timeoutMs,
        env: { ...process.env, CARACAL_LOG_LEVEL: 'silent' },
      },
      (err, stdout, stderr) => {
        let reply: ConfigCheckReply | undefined;
        try {
          reply = JSON.parse(stdout) as ConfigCheckReply;
        } catch {
          reply = undefined;
        }
        if (reply?.ok === true) resolve(reply.config);
        else if (reply?.ok === false)
          reject(new CaracalError(reply.code as ErrorCode, reply.message, { details: reply.details }));
        else
          reject(
            new CaracalError(
              ErrorCodes.Internal,
              `Cannot load speaker config "${file}": the config check process failed: ${err ? err.message : 'no answer'}${stderr ? `: ${stderr.trim()}` : ''}`,
            ),
          );
      },
    );
  });
}

/** Runs until a signal; resolves with the exit code. */
export async function runSpeaker(args: readonly string[]): Promise<number> {
  const file = flagValue(args, '--config');
  if (!file)
    throw new CaracalError(ErrorCodes.Usage, `Cannot start the speaker: --config FILE is required\n${SPEAKER_USAGE}`);
  const gracefulRestart = args.includes('--graceful-restart');
  const stateDir = flagValue(args, '--state-dir') ?? DEFAULT_SPEAKER_STATE_DIR;
  const config = await loadSpeakerConfigIsolated(file);
  // Loaded here, not at the top: the config child imports this module and needs none of it.
  const [{ logger }, { Speaker }, { startStatusApi }] = await Promise.all([
    import('../common/logger.js'),
    import('../speaker/speaker.js'),
    import('../speaker/status-api.js'),
  ]);
  const log = logger('speaker', { asn: config.asn, routerId: config.routerId });
  const marker = restartMarkerPath(stateDir, config.routerId);
  const restarting = gracefulRestart && consumeRestartMarker(marker, config.gracefulRestartTimeSec);
  if (restarting) log.info({ event: 'gracefulRestart', marker }, 'restarting: the R bit goes in the first OPENs');
  const md5 = config.peers.some((p) => p.password !== undefined) ? await kernelMd5() : undefined;
  const speaker = new Speaker(config, { md5, logger: log, restarting });
  let fib: { stop(): Promise<void> } | undefined;
  if (args.includes('--fib')) {
    const protoText = flagValue(args, '--fib-protocol');
    const protocol = protoText === undefined ? DEFAULT_FIB_PROTOCOL : Number(protoText);
    if (!Number.isInteger(protocol) || protocol < 1 || protocol > 255)
      throw new CaracalError(
        ErrorCodes.Usage,
        `Cannot start the speaker: --fib-protocol must be 1..255: current value is "${protoText}"\n${SPEAKER_USAGE}`,
      );
    // In a worker thread (felix/dataplane/route-worker.ts): the kernel's time per netlink batch stays off the
    // thread that reads UPDATEs and answers the status API.
    const { startFibWorker } = await import('../felix/dataplane/route-worker.js');
    const keepStaleMs = config.gracefulRestartTimeSec * 1000;
    fib = await startFibWorker(speaker, { protocol, keepStaleMs }, log.child({ component: 'fib', protocol }));
    log.info({ event: 'fibEnabled', protocol }, 'installing best learned routes in the kernel FIB');
  }
  await speaker.start();
  const api = await startStatusApi(speaker, config.status.address, config.status.port);
  log.info({ event: 'statusApi', address: config.status.address, port: api.port }, 'status API listening');
  // SIGHUP: re-read the file and apply its `originate` (added prefixes announced, removed ones withdrawn);
  // every other field needs a restart. A file that no longer validates is reported and changes nothing.
  process.on('SIGHUP', () => {
    loadSpeakerConfigIsolated(file).then(
      (next) => {
        speaker.setOriginated(next.originate);
        log.info({ event: 'reload', originate: next.originate.length }, 'originated prefixes reloaded (SIGHUP)');
      },
      (e) => log.error({ event: 'reloadFailed', err: describeError(e) }, 'config not reloaded; nothing changed'),
    );
  });
  return await new Promise<number>((resolve) => {
    const shutdown = async (signal: string) => {
      const forRestart = signal === 'SIGTERM' && gracefulRestart && config.peers.some((p) => p.gracefulRestart);
      log.info({ event: 'shutdown', signal, forRestart }, 'stopping the BGP speaker');
      const closed = new Promise((r) => api.server.close(r));
      // The FIB stops following the speaker first: the sessions closing below withdraw every learned route
      // from the Loc-RIB, and none of that may reach the kernel (forwarding continues while we restart).
      const fibStopped = fib?.stop();
      if (!forRestart) await speaker.stop();
      else {
        const left = await speaker.stopForRestart();
        try {
          mkdirSync(stateDir, { recursive: true });
          writeFileSync(marker, `${JSON.stringify({ stoppedAt: new Date().toISOString(), peers: left })}\n`);
        } catch (e) {
          log.warn(
            { event: 'gracefulRestartMarker', marker, err: describeError(e) },
            'cannot write the graceful-restart marker: the next start will not set the R bit',
          );
        }
        // The exit closes the connections left open, without a NOTIFICATION (RFC 4724 §4).
        log.info({ event: 'gracefulRestartStop', peers: left }, 'sessions left for the peers to hold our routes');
      }
      await fibStopped; // routes stay in the kernel
      await closed;
      resolve(0);
    };
    process.once('SIGTERM', () => void shutdown('SIGTERM'));
    process.once('SIGINT', () => void shutdown('SIGINT'));
  });
}
