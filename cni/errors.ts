/**
 * CNI error objects (CNI spec §"Error": `{ cniVersion, code, msg, details }` on stdout, non-zero exit). The
 * codes 1–99 are the spec's; 100+ are Caracal's own. Every failure inside the plugin ends as one `CniError`:
 * `main.ts` converts anything else (a CaracalError from the datastore or netlink, a bug) with `toCniError`.
 */
import { describeError, isCaracalError } from '../common/errors.js';

/** CNI spec 1.1.0 §"Well-known Error Codes", plus Caracal's plugin-specific codes from 100. */
export const CniCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  ContainerUnknown: 3,
  InvalidEnv: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  PluginNotAvailable: 50,
  LimitedConnectivity: 51,
  /** Caracal: the datastore (etcd, Kubernetes API) failed or could not be reached. */
  Datastore: 100,
  /** Caracal: IPAM could not assign an address (pool exhausted, no pool, delegated plugin failed). */
  Ipam: 101,
  /** Caracal: the kernel refused a link, address, route or sysctl change. */
  Dataplane: 102,
  /** Caracal: the node agent did not report the endpoint's policy programmed in time (fail closed). */
  PolicyTimeout: 103,
  /** Caracal: CHECK found the container's networking not as ADD left it. */
  CheckFailed: 104,
} as const;
export type CniCode = (typeof CniCode)[keyof typeof CniCode];

export class CniError extends Error {
  override readonly name = 'CniError';
  readonly code: number;
  readonly details: string;
  constructor(code: number, msg: string, details = '') {
    super(msg);
    this.code = code;
    this.details = details;
  }
  toJSON(cniVersion: string): Record<string, unknown> {
    return { cniVersion, code: this.code, msg: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

/** Any thrown value as a CniError: datastore errors keep a datastore code, the rest `fallback`. */
export function toCniError(e: unknown, fallback: number = CniCode.IoFailure): CniError {
  if (e instanceof CniError) return e;
  if (isCaracalError(e)) {
    const code = e.code.startsWith('DATASTORE_')
      ? CniCode.Datastore
      : e.code.startsWith('IPAM_')
        ? CniCode.Ipam
        : e.code === 'INVALID_CONFIG'
          ? CniCode.InvalidConfig
          : fallback;
    return new CniError(code, e.message, e.code);
  }
  return new CniError(fallback, describeError(e), e instanceof Error && e.stack ? e.stack.split('\n')[1]?.trim() : '');
}
