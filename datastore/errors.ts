/**
 * The errors every key-value backend (etcdv3, memory) reports the same way, so a caller sees one wording and
 * one set of details whichever driver it runs on. (The kubernetes driver maps the API server's Status instead.)
 */
import { CaracalError, ErrorCodes } from '../common/errors.js';
import type { KindInfo } from '../model/kind.js';

/** `IPPool "pool-a"` or `WorkloadEndpoint "ns/name"`: the object a message is about. */
export function objectLabel(kind: KindInfo, name: string, ns: string | undefined): string {
  return `${kind.kind} "${ns === undefined ? name : `${ns}/${name}`}"`;
}

export function notFoundError(op: string, kind: KindInfo, name: string, ns: string | undefined): CaracalError {
  return new CaracalError(ErrorCodes.NotFound, `Cannot ${op} ${objectLabel(kind, name, ns)}: it does not exist`, {
    details: { kind: kind.kind, name, namespace: ns },
  });
}

export function alreadyExistsError(op: string, kind: KindInfo, name: string, ns: string | undefined): CaracalError {
  return new CaracalError(ErrorCodes.AlreadyExists, `Cannot ${op} ${objectLabel(kind, name, ns)}: it already exists`, {
    details: { kind: kind.kind, name, namespace: ns },
  });
}

/** A compare-and-swap that failed: the stored revision is not `expected` (`current`, when known). */
export function conflictError(
  op: string,
  kind: KindInfo,
  name: string,
  ns: string | undefined,
  expected: string,
  current: string | undefined,
): CaracalError {
  return new CaracalError(
    ErrorCodes.Conflict,
    `Cannot ${op} ${objectLabel(kind, name, ns)}: it changed since revision ${expected}: current revision is ${current ?? 'unknown'}`,
    { details: { kind: kind.kind, name, namespace: ns, expectedRevision: expected, currentRevision: current } },
  );
}
