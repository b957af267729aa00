/**
 * `caracal speaker --config FILE`: the BGP speaker alone (docs/speaker.md). Reads and validates the config,
 * wires the kernel's TCP-MD5 into the sessions, starts the status API, and on SIGTERM/SIGINT sends Cease
 * to every peer before exiting.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { CaracalError, ErrorCodes } from '../common/errors.js';
import { logger } from '../common/logger.js';
import { createMd5Socket, setTcpMd5 } from '../kernel/tcp-md5.js';
import { SpeakerConfig } from '../model/speaker-config.js';
import { parseWithSchema } from '../model/validate.js';
import type { Md5Port } from '../speaker/session/peer.js';
import { Speaker } from '../speaker/speaker.js';
import { startStatusApi } from '../speaker/status-api.js';

export const SPEAKER_USAGE = 'Usage: caracal speaker --config FILE   (YAML or JSON; see docs/speaker.md)';

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
  const i = args.indexOf('--config');
  const file = i >= 0 ? args[i + 1] : undefined;
  if (!file)
    throw new CaracalError(ErrorCodes.Usage, `Cannot start the speaker: --config FILE is required\n${SPEAKER_USAGE}`);
  const config = loadSpeakerConfig(file);
  const log = logger('speaker', { asn: config.asn, routerId: config.routerId });
  const speaker = new Speaker(config, { md5: kernelMd5, logger: log });
  await speaker.start();
  const api = await startStatusApi(speaker, config.status.address, config.status.port);
  log.info({ event: 'statusApi', address: config.status.address, port: api.port }, 'status API listening');
  return await new Promise<number>((resolve) => {
    const shutdown = (signal: string) => {
      log.info({ event: 'shutdown', signal }, 'stopping the BGP speaker');
      void Promise.all([speaker.stop(), new Promise((r) => api.server.close(r))]).then(() => resolve(0));
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}
