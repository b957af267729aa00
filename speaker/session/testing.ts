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
