/**
 * One pino root logger per process (STYLE §2.6). Components call `child({ component })` once and keep it.
 * Level from CARACAL_LOG_LEVEL (default info; "silent" in tests unless set). Output goes to stderr so
 * that CLIs and the CNI plugin keep stdout for their results.
 */
import { type Logger, pino } from 'pino';
import { CaracalError, ErrorCodes } from './errors.js';

let root: Logger | undefined;

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * The level CARACAL_LOG_LEVEL asks for. Throws INVALID_CONFIG naming the variable for an unknown level
 * (pino's own error names neither the variable nor the levels it accepts).
 *
 * @example logLevelFromEnv({ CARACAL_LOG_LEVEL: 'debug' }) // 'debug'
 */
export function logLevelFromEnv(env: Record<string, string | undefined> = process.env): string {
  const level = env.CARACAL_LOG_LEVEL ?? (env.NODE_TEST_CONTEXT ? 'silent' : 'info');
  if (!(LEVELS as readonly string[]).includes(level)) {
    throw new CaracalError(
      ErrorCodes.InvalidConfig,
      `Cannot configure logging: CARACAL_LOG_LEVEL must be one of ${LEVELS.join(', ')}: current value is "${level}"`,
      { details: { variable: 'CARACAL_LOG_LEVEL', value: level } },
    );
  }
  return level;
}

export function rootLogger(): Logger {
  if (!root) root = pino({ level: logLevelFromEnv(), base: { pid: process.pid } }, pino.destination(2));
  return root;
}

export function logger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger().child({ component, ...bindings });
}

export type { Logger };
