/**
 * Bounded polling and a free TCP port, for the speaker tests: `waitFor` (async, for lab tests: the timeout
 * message says what was awaited, the last error and what was last seen) and `until` (synchronous predicate,
 * tight polling, for in-process speakers).
 */
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';

/**
 * Calls `fn` every `intervalMs` until it returns something other than undefined/false; throws after
 * `timeoutMs` with `what`, the last error `fn` threw (if any), and `seen()` (what the test last observed).
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs?: number; intervalMs?: number; seen?: () => string } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const until = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
      lastError = undefined;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > until) {
      const err = lastError === undefined ? '' : `\nlast error: ${(lastError as Error).message ?? String(lastError)}`;
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${err}\n${opts.seen?.() ?? ''}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}

/** Polls the synchronous `fn` every `intervalMs` until it returns something truthy; throws after `timeoutMs`. */
export async function until<T>(
  what: string,
  fn: () => T | undefined | false,
  timeoutMs = 5000,
  intervalMs = 2,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A TCP port that was free on `host` a moment ago (listen on 0, read the port, close). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, host, r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}
