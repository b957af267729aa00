/**
 * CaracalError: one error base with a stable string `code` (catalogued in docs/errors.md), after undici's
 * UND_ERR_* codes. Messages follow the form "Cannot <do what>: <why>: <current state>".
 *
 * `isCaracalError` checks a brand rather than `instanceof`, so it still works when two copies of this
 * module are loaded (the CNI binary and a test harness, say).
 */
const BRAND = Symbol.for('caracal.error');

export const ErrorCodes = {
  // model / validation
  InvalidResource: 'INVALID_RESOURCE',
  InvalidConfig: 'INVALID_CONFIG',
  UnknownKind: 'UNKNOWN_KIND',
  // datastore
  NotFound: 'DATASTORE_NOT_FOUND',
  AlreadyExists: 'DATASTORE_ALREADY_EXISTS',
  Conflict: 'DATASTORE_CONFLICT',
  Gone: 'DATASTORE_GONE',
  Unavailable: 'DATASTORE_UNAVAILABLE',
  DatastoreClosed: 'DATASTORE_CLOSED',
  // lab
  LabInvalid: 'LAB_INVALID',
  LabExists: 'LAB_EXISTS',
  LabCommandFailed: 'LAB_COMMAND_FAILED',
  LabNotFound: 'LAB_NOT_FOUND',
  // ipam
  IpamNoPool: 'IPAM_NO_POOL',
  IpamPoolExhausted: 'IPAM_POOL_EXHAUSTED',
  IpamBlockLimit: 'IPAM_BLOCK_LIMIT',
  IpamAddressInUse: 'IPAM_ADDRESS_IN_USE',
  IpamNotInPool: 'IPAM_NOT_IN_POOL',
  IpamStrictAffinity: 'IPAM_STRICT_AFFINITY',
  IpamBadSequenceNumber: 'IPAM_BAD_SEQUENCE_NUMBER',
  IpamRetriesExhausted: 'IPAM_RETRIES_EXHAUSTED',
  // node agent's CNI service (node/cni-service.ts, cni/agent-client.ts)
  AgentTimeout: 'AGENT_TIMEOUT',
  AgentBadRequest: 'AGENT_BAD_REQUEST',
  // generic
  Usage: 'USAGE',
  Internal: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class CaracalError extends Error {
  override readonly name: string = 'CaracalError';
  readonly code: ErrorCode;
  /** Structured detail for logs and tests (field path, kind, name, ...). */
  readonly details: Readonly<Record<string, unknown>>;
  readonly [BRAND] = true;
  constructor(code: ErrorCode, message: string, opts: { details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.details = opts.details ?? {};
  }
}

export function isCaracalError(e: unknown, code?: ErrorCode): e is CaracalError {
  return (
    typeof e === 'object' &&
    e !== null &&
    (e as Record<symbol, unknown>)[BRAND] === true &&
    (code === undefined || (e as CaracalError).code === code)
  );
}

/** A short, single-line description of any thrown value, for logs and CLI output. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
