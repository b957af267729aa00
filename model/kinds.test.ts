import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { CARACAL_GROUP, type KindInfo } from './kind.js';
import { isKindName, KINDS } from './kinds.js';

describe('KINDS', () => {
  it('keeps the registry keys, kinds, plurals and store names fixed', () => {
    const table = Object.values(KINDS).map(
      (k) => `${k.key} ${k.kind} ${k.group || 'core'} ${k.plural} ${k.storeName} ${k.namespaced ? 'ns' : 'cluster'}`,
    );
    assert.deepEqual(table, [
      'IPPool IPPool crd.caracal.dev ippools ippools cluster',
      'IPAMBlock IPAMBlock crd.caracal.dev ipamblocks ipamblocks cluster',
      'BlockAffinity BlockAffinity crd.caracal.dev blockaffinities blockaffinities cluster',
      'IPAMHandle IPAMHandle crd.caracal.dev ipamhandles ipamhandles cluster',
      'IPAMConfig IPAMConfig crd.caracal.dev ipamconfigs ipamconfigs cluster',
      'BGPConfiguration BGPConfiguration crd.caracal.dev bgpconfigurations bgpconfigurations cluster',
      'BGPPeer BGPPeer crd.caracal.dev bgppeers bgppeers cluster',
      'FelixConfiguration FelixConfiguration crd.caracal.dev felixconfigurations felixconfigurations cluster',
      'Node Node crd.caracal.dev nodes nodes cluster',
      'WorkloadEndpoint WorkloadEndpoint crd.caracal.dev workloadendpoints workloadendpoints ns',
      'Pod Pod core pods k8s-pods ns',
      'Namespace Namespace core namespaces k8s-namespaces cluster',
      'NetworkPolicy NetworkPolicy networking.k8s.io networkpolicies k8s-networkpolicies ns',
      'K8sNode Node core nodes k8s-nodes cluster',
    ]);
  });

  it('gives every kind a schema whose apiVersion and kind literals match the registry', () => {
    for (const k of Object.values(KINDS) as KindInfo[]) {
      const json = z.toJSONSchema(k.schema, { io: 'input', unrepresentable: 'any' }) as {
        properties: Record<string, { const?: string }>;
      };
      const apiVersion = k.group === '' ? k.version : `${k.group}/${k.version}`;
      assert.equal(json.properties.apiVersion?.const, apiVersion, k.key);
      assert.equal(json.properties.kind?.const, k.kind, k.key);
      assert.equal(k.native, k.group !== CARACAL_GROUP, k.key);
    }
  });

  it('`isKindName()` accepts registry keys only', () => {
    assert.equal(isKindName('K8sNode'), true);
    assert.equal(isKindName('toString'), false);
    assert.equal(isKindName('ippools'), false);
  });
});
