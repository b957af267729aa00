/**
 * A pretend CNI plugin for test/ipam/chaos.test.ts: in a loop, adds pods (dual-stack autoAssign, then a
 * WorkloadEndpoint), deletes pods (endpoint first, then release by handle) and releases empty blocks, until
 * it is killed. Prints "ready" once its first pod is up.
 *   node --import tsx test/ipam/chaos-worker.ts <endpoints> <prefix> <node> <seed>
 */
import { EtcdV3Backend } from '../../datastore/etcdv3/backend.js';
import { createDatastore } from '../../datastore/store.js';
import { Ipam } from '../../ipam/allocator.js';
import { workloadEndpointName } from '../../model/workload-endpoint.js';

const [endpoints, prefix, node, seedText] = process.argv.slice(2) as [string, string, string, string];
let seed = Number(seedText) >>> 0 || 1;
const rand = (n: number) => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed % n;
};

const ds = createDatastore(new EtcdV3Backend({ endpoints: endpoints.split(','), prefix }));
// Several allocators, as several CNI processes on one node would be: they meet in the CAS.
const ipams = [new Ipam(ds), new Ipam(ds)];
const pods = new Map<string, string>(); // pod → endpoint name
for (const w of (await ds.list('WorkloadEndpoint', { namespace: 'default' })).items) {
  if (w.spec.node === node && w.spec.pod) pods.set(w.spec.pod, w.metadata.name);
}
let n = 0;
let ready = false;

async function addPod(): Promise<void> {
  const pod = `${node}-${process.pid}-${n++}`;
  const handleId = `k8s-pod-network.${pod}`;
  const got = await ipams[rand(2)]!.autoAssign({
    handleId,
    node,
    num4: 1,
    num6: 1,
    attrs: { pod, namespace: 'default', containerID: pod },
  });
  const name = workloadEndpointName({ node, pod });
  await ds.create('WorkloadEndpoint', {
    apiVersion: 'crd.caracal.dev/v1',
    kind: 'WorkloadEndpoint',
    metadata: { name, namespace: 'default' },
    spec: {
      node,
      pod,
      containerID: pod,
      interfaceName: `cali${n}`,
      ipNetworks: [`${got.ipv4[0]!.ip}/32`, `${got.ipv6[0]!.ip}/128`],
    },
  });
  pods.set(pod, name);
}

async function deletePod(): Promise<void> {
  const all = [...pods];
  const [pod, name] = all[rand(all.length)]!;
  await ds.delete('WorkloadEndpoint', name, 'default');
  pods.delete(pod);
  await ipams[rand(2)]!.releaseByHandle(`k8s-pod-network.${pod}`);
}

for (;;) {
  const r = rand(10);
  try {
    if (pods.size < 4 || (r < 5 && pods.size < 40)) await addPod();
    else if (r < 9) await deletePod();
    else await ipams[rand(2)]!.releaseEmptyBlocks(node);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== 'IPAM_POOL_EXHAUSTED' && code !== 'IPAM_BLOCK_LIMIT') throw e;
  }
  if (!ready) {
    ready = true;
    process.stdout.write('ready\n');
  }
}
