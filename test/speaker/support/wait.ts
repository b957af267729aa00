/** Bounded polling for interop tests: the timeout message says what was awaited and what was last seen. */

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
