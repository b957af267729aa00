/** Test helpers shared by the session tests (imported only from *.test.ts). */
import { MessageType, type OpenMessage } from '../wire/types.js';
import { buildOpen, IPV4_UNICAST, IPV6_UNICAST, type SessionConfig } from './config.js';

export function testConfig(over: Partial<SessionConfig> = {}): SessionConfig {
  return {
    localAs: 65000,
    peerAs: 65001,
    bgpId: 0x0a000001,
    holdTimeSec: 90,
    connectRetrySec: 5,
    passive: false,
    families: [IPV4_UNICAST, IPV6_UNICAST],
    ...over,
  };
}

/** The OPEN the configured peer would send: its config mirrors ours. */
export function peerOpen(
  c: SessionConfig,
  over: Partial<OpenMessage> = {},
  caps: Partial<OpenMessage['capabilities']> = {},
): OpenMessage {
  const base = buildOpen({ ...c, localAs: c.peerAs, peerAs: c.localAs, bgpId: 0x0a000002 });
  return { ...base, type: MessageType.Open, ...over, capabilities: { ...base.capabilities, ...caps } };
}

/** A Clock whose time moves only when a test calls `advance()`; due callbacks fire in deadline order. */
export class FakeClock {
  #now = 1_000_000;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): { cancel(): void } {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + ms, fn });
    return { cancel: () => this.#timers.delete(id) };
  }
  get pending(): number {
    return this.#timers.size;
  }
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.#timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#now = next[1].at;
      next[1].fn();
    }
    this.#now = end;
  }
}
