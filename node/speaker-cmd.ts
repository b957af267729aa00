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
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CaracalError, describeError, ErrorCodes } from '../common/errors.js';
import { logger } from '../common/logger.js';
import { createMd5Socket, setTcpMd5 } from '../kernel/tcp-md5.js';
import { SpeakerConfig } from '../model/speaker-config.js';
import { parseWithSchema } from '../model/validate.js';
import type { Md5Port } from '../speaker/session/peer.js';
import { Speaker } from '../speaker/speaker.js';
import { startStatusApi } from '../speaker/status-api.js';

export const SPEAKER_USAGE =
  'Usage: caracal speaker --config FILE [--graceful-restart] [--state-dir DIR]   (YAML or JSON; see docs/speaker.md)';

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

export const kernelMd5: Md5Port = {
  setKey: (fd, peerAddress, key) => setTcpMd5(fd, peerAddress, key),
  createSocket: (family, peerAddress, key) => createMd5Socket(family, peerAddress, key),
};

export function loadSpeakerConfig(file: string): SpeakerConfig {
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

/** Runs until a signal; resolves with the exit code. */
export async function runSpeaker(args: readonly string[]): Promise<number> {
  const file = flagValue(args, '--config');
  if (!file)
    throw new CaracalError(ErrorCodes.Usage, `Cannot start the speaker: --config FILE is required\n${SPEAKER_USAGE}`);
  const gracefulRestart = args.includes('--graceful-restart');
  const stateDir = flagValue(args, '--state-dir') ?? DEFAULT_SPEAKER_STATE_DIR;
  const config = loadSpeakerConfig(file);
  const log = logger('speaker', { asn: config.asn, routerId: config.routerId });
  const marker = restartMarkerPath(stateDir, config.routerId);
  const restarting = gracefulRestart && consumeRestartMarker(marker, config.gracefulRestartTimeSec);
  if (restarting) log.info({ event: 'gracefulRestart', marker }, 'restarting: the R bit goes in the first OPENs');
  const speaker = new Speaker(config, { md5: kernelMd5, logger: log, restarting });
  await speaker.start();
  const api = await startStatusApi(speaker, config.status.address, config.status.port);
  log.info({ event: 'statusApi', address: config.status.address, port: api.port }, 'status API listening');
  // SIGHUP: re-read the file and apply its `originate` (added prefixes announced, removed ones withdrawn);
  // every other field needs a restart. A file that no longer validates is reported and changes nothing.
  process.on('SIGHUP', () => {
    try {
      const next = loadSpeakerConfig(file);
      speaker.setOriginated(next.originate);
      log.info({ event: 'reload', originate: next.originate.length }, 'originated prefixes reloaded (SIGHUP)');
    } catch (e) {
      log.error({ event: 'reloadFailed', err: describeError(e) }, 'config not reloaded; nothing changed');
    }
  });
  return await new Promise<number>((resolve) => {
    const shutdown = async (signal: string) => {
      const forRestart = signal === 'SIGTERM' && gracefulRestart && config.peers.some((p) => p.gracefulRestart);
      log.info({ event: 'shutdown', signal, forRestart }, 'stopping the BGP speaker');
      const closed = new Promise((r) => api.server.close(r));
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
      await closed;
      resolve(0);
    };
    process.once('SIGTERM', () => void shutdown('SIGTERM'));
    process.once('SIGINT', () => void shutdown('SIGINT'));
  });
}
