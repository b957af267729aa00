/**
 * `caracal node --nodename NAME [--cni-socket PATH]`: the node agent. For now it runs one service, the CNI
 * service (node/cni-service.ts) that the plugin hands its IPAM and WorkloadEndpoint steps to; the BGP speaker
 * and felix join it here later. The datastore comes from the environment (`CARACAL_DATASTORE`,
 * `CARACAL_ETCD_ENDPOINTS`, `CARACAL_ETCD_PREFIX`, `KUBECONFIG`; datastore/index.ts). SIGTERM and SIGINT stop
 * it: running requests finish (up to their time limit), the socket file is removed, the datastore closed.
 */
import { CaracalError, describeError, ErrorCodes } from '../common/errors.js';
import { logger } from '../common/logger.js';
import { datastoreFromEnv } from '../datastore/index.js';
import { CniService, DEFAULT_AGENT_SOCKET, DEFAULT_REQUEST_TIMEOUT_MS } from './cni-service.js';

export const NODE_USAGE =
  'Usage: caracal node [--nodename NAME] [--cni-socket PATH] [--request-timeout-ms N]   (docs/cni.md "caracal node")';

export interface AgentArgs {
  nodename: string;
  cniSocket: string;
  requestTimeoutMs: number;
}

/** The command line, with the node name defaulting as the plugin's does (CARACAL_NODENAME, NODENAME). */
export function parseAgentArgs(
  argv: readonly string[],
  env: Record<string, string | undefined> = process.env,
): AgentArgs {
  const out: Partial<AgentArgs> = {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    const value = argv[i + 1];
    const need = (): string => {
      if (value === undefined || value.startsWith('--'))
        throw new CaracalError(ErrorCodes.Usage, `Cannot start the agent: ${flag} needs a value\n${NODE_USAGE}`);
      i++;
      return value;
    };
    if (flag === '--nodename') out.nodename = need();
    else if (flag === '--cni-socket') out.cniSocket = need();
    else if (flag === '--request-timeout-ms') {
      const v = need();
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0)
        throw new CaracalError(
          ErrorCodes.Usage,
          `Cannot start the agent: --request-timeout-ms must be a positive integer: current value is "${v}"\n${NODE_USAGE}`,
        );
      out.requestTimeoutMs = n;
    } else
      throw new CaracalError(ErrorCodes.Usage, `Cannot start the agent: unknown argument "${flag}"\n${NODE_USAGE}`);
  }
  const nodename = out.nodename ?? env.CARACAL_NODENAME ?? env.NODENAME;
  if (!nodename)
    throw new CaracalError(
      ErrorCodes.Usage,
      `Cannot start the agent: the node name is not set: pass --nodename or set CARACAL_NODENAME\n${NODE_USAGE}`,
    );
  return {
    nodename,
    cniSocket: out.cniSocket ?? DEFAULT_AGENT_SOCKET,
    requestTimeoutMs: out.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
  };
}

/** Run until SIGTERM or SIGINT; resolves with the exit code. */
export async function runAgent(argv: readonly string[]): Promise<number> {
  const args = parseAgentArgs(argv);
  const log = logger('node', { node: args.nodename });
  const ds = await datastoreFromEnv(process.env);
  let svc: CniService;
  try {
    svc = await CniService.start({
      node: args.nodename,
      ds,
      socketPath: args.cniSocket,
      requestTimeoutMs: args.requestTimeoutMs,
      log: log.child({ component: 'cni-service' }),
    });
  } catch (e) {
    await ds.close();
    throw e;
  }
  log.info({ event: 'agentUp', driver: ds.driver, cniSocket: svc.socketPath }, 'caracal node running');
  return await new Promise<number>((resolve) => {
    const shutdown = async (signal: string) => {
      log.info({ event: 'shutdown', signal }, 'stopping caracal node');
      let code = 0;
      try {
        await svc.close();
      } catch (e) {
        log.error({ event: 'shutdownFailed', err: describeError(e) }, 'CNI service did not close cleanly');
        code = 1;
      }
      await ds.close().catch(() => undefined);
      log.info({ event: 'stopped' }, 'caracal node stopped');
      resolve(code);
    };
    process.once('SIGTERM', () => void shutdown('SIGTERM'));
    process.once('SIGINT', () => void shutdown('SIGINT'));
  });
}
