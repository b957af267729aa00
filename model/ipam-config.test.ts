import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultIpamConfigSpec, effectiveMaxBlocksPerHost } from './ipam-config.js';
import { expectIssue, expectValid, SAMPLES, withMeta, withSpec } from './testdata/samples.js';

describe('IPAMConfig', () => {
  it('`parseResource()` applies the defaults of ipam.md §1.5 to an empty spec, and to a missing one', () => {
    const want = {
      strictAffinity: false,
      autoAllocateBlocks: true,
      maxBlocksPerHost: 0,
      kubeVirtVMAddressPersistence: 'Enabled',
      ipCooldownSec: 0,
    };
    assert.deepEqual(expectValid('IPAMConfig', SAMPLES.IPAMConfig()).spec, want);
    const { spec: _s, ...noSpec } = SAMPLES.IPAMConfig();
    assert.deepEqual(expectValid('IPAMConfig', noSpec).spec, want);
    assert.deepEqual(defaultIpamConfigSpec(), want);
  });

  it('`parseResource()` names spec.autoAllocateBlocks when it is false without strictAffinity', () => {
    expectIssue(
      'IPAMConfig',
      withSpec('IPAMConfig', { autoAllocateBlocks: false }),
      'spec.autoAllocateBlocks',
      'cannot be false while strictAffinity is false',
    );
    expectValid('IPAMConfig', withSpec('IPAMConfig', { autoAllocateBlocks: false, strictAffinity: true }));
  });

  it('`parseResource()` names spec.maxBlocksPerHost when it is set without strictAffinity', () => {
    expectIssue(
      'IPAMConfig',
      withSpec('IPAMConfig', { maxBlocksPerHost: 4 }),
      'spec.maxBlocksPerHost',
      'must be 0 unless strictAffinity is true: current value is 4',
    );
  });

  it('`parseResource()` names spec.ipCooldownSec above 1200', () => {
    expectIssue(
      'IPAMConfig',
      withSpec('IPAMConfig', { ipCooldownSec: 1201 }),
      'spec.ipCooldownSec',
      'must be at most 1200: current value is 1201',
    );
  });

  it('`parseResource()` names metadata.name unless it is "default"', () => {
    expectIssue(
      'IPAMConfig',
      withMeta('IPAMConfig', { name: 'mine' }),
      'metadata.name',
      'must be "default": IPAMConfig is a singleton',
    );
  });
});

describe('effectiveMaxBlocksPerHost()', () => {
  it('takes the smaller of the config and the request, and 20 when neither is set', () => {
    assert.equal(effectiveMaxBlocksPerHost({ maxBlocksPerHost: 0 }), 20);
    assert.equal(effectiveMaxBlocksPerHost({ maxBlocksPerHost: 0 }, 5), 5);
    assert.equal(effectiveMaxBlocksPerHost({ maxBlocksPerHost: 3 }, 5), 3);
    assert.equal(effectiveMaxBlocksPerHost({ maxBlocksPerHost: 7 }), 7);
  });
});
