import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { effectiveKeepaliveTimeSec, parsePeerAddress } from './bgp-peer.js';
import { formatIp } from './ip.js';
import { expectIssue, expectValid, SAMPLES, withSpec } from './testdata/samples.js';

describe('BGPPeer', () => {
  it('`parseResource()` applies the timer and mode defaults', () => {
    const p = expectValid('BGPPeer', SAMPLES.BGPPeer());
    assert.equal(p.spec.holdTimeSec, 90);
    assert.equal(p.spec.maxRestartTimeSec, 120);
    assert.equal(p.spec.reversePeering, 'Auto');
    assert.equal(p.spec.nextHopMode, 'Auto');
    assert.equal(p.spec.sourceAddress, 'UseNodeIP');
    assert.equal(p.spec.keepaliveTimeSec, undefined);
  });

  it('`parseResource()` accepts a route-reflector peering by peerSelector', () => {
    expectValid(
      'BGPPeer',
      withSpec('BGPPeer', {
        peerIP: undefined,
        asNumber: undefined,
        nodeSelector: '!has(rr)',
        peerSelector: 'has(rr)',
      }),
    );
  });

  it('`parseResource()` names spec when neither peerIP nor peerSelector is set', () => {
    expectIssue(
      'BGPPeer',
      withSpec('BGPPeer', { peerIP: undefined }),
      'spec',
      'must set peerIP (with asNumber) or peerSelector',
    );
  });

  it('`parseResource()` names spec.asNumber when peerIP comes without it, or peerSelector with it', () => {
    expectIssue(
      'BGPPeer',
      withSpec('BGPPeer', { asNumber: undefined }),
      'spec.asNumber',
      'is required when peerIP is set',
    );
    expectIssue(
      'BGPPeer',
      withSpec('BGPPeer', { peerIP: undefined, peerSelector: 'all()' }),
      'spec.asNumber',
      'must be unset with peerSelector',
    );
  });

  it('`parseResource()` names spec.peerSelector when both peerIP and peerSelector are set', () => {
    expectIssue(
      'BGPPeer',
      withSpec('BGPPeer', { peerSelector: 'all()' }),
      'spec.peerSelector',
      'must be unset when peerIP is set',
    );
  });

  it('`parseResource()` names spec.nodeSelector when node is also set', () => {
    expectIssue(
      'BGPPeer',
      withSpec('BGPPeer', { node: 'worker-1', nodeSelector: 'all()' }),
      'spec.nodeSelector',
      'must be unset when node is set',
    );
  });

  it('`parseResource()` names spec.holdTimeSec of 1 or 2 (RFC 4271 §4.2)', () => {
    expectIssue(
      'BGPPeer',
      withSpec('BGPPeer', { holdTimeSec: 2 }),
      'spec.holdTimeSec',
      'must be 0 or at least 3 (RFC 4271 §4.2): current value is 2',
    );
    expectValid('BGPPeer', withSpec('BGPPeer', { holdTimeSec: 0 }));
  });

  it('`parseResource()` names spec.keepaliveTimeSec not below the hold time', () => {
    expectIssue(
      'BGPPeer',
      withSpec('BGPPeer', { holdTimeSec: 9, keepaliveTimeSec: 9 }),
      'spec.keepaliveTimeSec',
      'must be less than holdTimeSec (9)',
    );
    expectIssue(
      'BGPPeer',
      withSpec('BGPPeer', { holdTimeSec: 0, keepaliveTimeSec: 3 }),
      'spec.keepaliveTimeSec',
      'must be 0 when holdTimeSec is 0',
    );
  });

  it('`parseResource()` names spec.peerIP that is not an address, and a bad port', () => {
    expectIssue(
      'BGPPeer',
      withSpec('BGPPeer', { peerIP: 'tor-1.example' }),
      'spec.peerIP',
      'must be an IP address, optionally with a port',
    );
    expectIssue(
      'BGPPeer',
      withSpec('BGPPeer', { peerIP: '192.0.2.1:70000' }),
      'spec.peerIP',
      'port "70000" must be from 1 to 65535',
    );
  });

  it('`parseResource()` names spec.reachableBy of the other family', () => {
    expectIssue(
      'BGPPeer',
      withSpec('BGPPeer', { reachableBy: 'fd00::1' }),
      'spec.reachableBy',
      'must be of the same address family as peerIP',
    );
  });

  it('`parseResource()` names an AS number of 0 or above 2^32 - 1', () => {
    expectIssue('BGPPeer', withSpec('BGPPeer', { asNumber: 0 }), 'spec.asNumber', 'must be at least 1');
    expectIssue(
      'BGPPeer',
      withSpec('BGPPeer', { asNumber: 4_294_967_296 }),
      'spec.asNumber',
      'must be at most 4294967295',
    );
  });
});

describe('parsePeerAddress()', () => {
  it('reads an address alone, with a port, and an IPv6 address in brackets with a port', () => {
    const p = (s: string) => {
      const r = parsePeerAddress(s);
      assert.ok(r.ok, s);
      return `${formatIp(r.value.ip)} ${r.value.port ?? '-'}`;
    };
    assert.equal(p('192.0.2.1'), '192.0.2.1 -');
    assert.equal(p('192.0.2.1:1790'), '192.0.2.1 1790');
    assert.equal(p('fd00::1'), 'fd00::1 -');
    assert.equal(p('[fd00::1]:1790'), 'fd00::1 1790');
    assert.equal(p('[fd00::1]'), 'fd00::1 -');
  });

  it('refuses brackets around IPv4, an unclosed bracket and a port of 0', () => {
    for (const bad of ['[192.0.2.1]:179', '[fd00::1:179', '192.0.2.1:0', '[fd00::1]179'])
      assert.equal(parsePeerAddress(bad).ok, false, bad);
  });
});

describe('effectiveKeepaliveTimeSec()', () => {
  it('is a third of the negotiated hold time unless set, 0 with hold 0, and always below the hold time', () => {
    assert.equal(effectiveKeepaliveTimeSec({}, 90), 30);
    assert.equal(effectiveKeepaliveTimeSec({ keepaliveTimeSec: 10 }, 90), 10);
    assert.equal(effectiveKeepaliveTimeSec({ keepaliveTimeSec: 60 }, 30), 29);
    assert.equal(effectiveKeepaliveTimeSec({ keepaliveTimeSec: 10 }, 0), 0);
  });
});
