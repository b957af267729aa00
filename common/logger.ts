/**
 * One pino root logger per process (STYLE §2.6). Components call `child({ component })` once and keep it.
 * Level from CARACAL_LOG_LEVEL (default info; "silent" in tests unless set). Output goes to stderr so
 * that CLIs and the CNI plugin keep stdout for their results.
 */
import { type Logger, pino } from 'pino';

let root: Logger | undefined;

export function rootLogger(): Logger {
  if (!root) {
    const level = process.env.CARACAL_LOG_LEVEL ?? (process.env.NODE_TEST_CONTEXT ? 'silent' : 'info');
    root = pino({ level, base: { pid: process.pid } }, pino.destination(2));
  }
  return root;
}

export function logger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger().child({ component, ...bindings });
}

export type { Logger };
