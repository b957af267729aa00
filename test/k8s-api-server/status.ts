/**
 * `metav1.Status` errors as the Kubernetes API server sends them (apimachinery pkg/api/errors): every failure
 * is a Status object whose `code` equals the HTTP status, whose `reason` is the machine-readable cause, and
 * whose `details` names the object (`kind` is the *resource* plural there, as in apimachinery).
 *
 * Part of the TEST DOUBLE in test/k8s-api-server (see server.ts). Messages are copied in form from
 * apimachinery so that a client which matches on them (it should not) behaves the same against both.
 */

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, unknown>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** The names apimachinery uses for a resource in messages and `details`. */
export interface ResourceNames {
  /** `pods`, `ippools.crd.caracal.dev` */
  readonly qualified: string;
  readonly group: string;
  readonly plural: string;
  /** `Pod`, `IPPool` */
  readonly kind: string;
}

/** A Status carried as an exception through the request handlers, sent by the HTTP layer. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: Status;
  constructor(status: Status) {
    super(status.message ?? status.reason ?? `HTTP ${status.code}`);
    this.status = status;
  }
  get code(): number {
    return this.status.code;
  }
}

export function failure(code: number, reason: string, message: string, details?: StatusDetails): Status {
  const s: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, code };
  if (reason !== '') s.reason = reason; // StatusReasonUnknown is the empty string, omitted on the wire
  if (details) s.details = details;
  return s;
}

const err = (code: number, reason: string, message: string, details?: StatusDetails) =>
  new ApiError(failure(code, reason, message, details));

const objDetails = (r: ResourceNames, name: string): StatusDetails => ({ name, group: r.group, kind: r.plural });

/** Constructors named after apimachinery's `errors.New*`. */
export const Errors = {
  notFound: (r: ResourceNames, name: string) =>
    err(404, 'NotFound', `${r.qualified} "${name}" not found`, objDetails(r, name)),
  alreadyExists: (r: ResourceNames, name: string) =>
    err(409, 'AlreadyExists', `${r.qualified} "${name}" already exists`, objDetails(r, name)),
  /** Optimistic-concurrency failure: the resourceVersion sent is not the stored one. */
  conflict: (r: ResourceNames, name: string, why: string) =>
    err(409, 'Conflict', `Operation cannot be fulfilled on ${r.qualified} "${name}": ${why}`, objDetails(r, name)),
  invalid: (r: ResourceNames, name: string, causes: StatusCause[]) =>
    err(
      422,
      'Invalid',
      `${r.kind}${r.group ? `.${r.group}` : ''} "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`,
      { name, group: r.group, kind: r.kind, causes },
    ),
  /** 422 on a query (ListOptions) rather than an object. */
  invalidOptions: (kind: string, causes: StatusCause[]) =>
    err(
      422,
      'Invalid',
      `${kind}.meta.k8s.io "" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`,
      {
        group: 'meta.k8s.io',
        kind,
        causes,
      },
    ),
  badRequest: (message: string) => err(400, 'BadRequest', message),
  /** 410: the requested resourceVersion or continue token is older than the retained history. */
  expired: (message: string) => err(410, 'Expired', message),
  methodNotAllowed: () =>
    err(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'),
  routeNotFound: () => err(404, 'NotFound', 'the server could not find the requested resource', {}),
  unauthorized: () => err(401, 'Unauthorized', 'Unauthorized'),
  unsupportedMediaType: (contentType: string) =>
    err(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json (got "${contentType}")`,
    ),
  tooLarge: () => err(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728'),
  /** What the watch cache answers when asked for a resourceVersion it has not reached. */
  tooLargeResourceVersion: (requested: number, current: number) =>
    err(504, 'Timeout', `Too large resource version: ${requested}, current: ${current}`, {
      causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
      retryAfterSeconds: 1,
    }),
  /** A non-Status error from storage: apiserver's errToAPIStatus turns it into a 500 with reason Unknown (""). */
  internal: (message: string) => err(500, '', message),
};

/** `Status{status: Success}` as returned by DELETE for resources that do not return the deleted object. */
export function success(r: ResourceNames, name: string, uid: string | undefined): Status {
  const details: StatusDetails = objDetails(r, name);
  if (uid) details.uid = uid;
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details, code: 200 };
}
