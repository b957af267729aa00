/**
 * `caracalctl get|apply|delete`: resources through the datastore port (never around it). Pure helpers for
 * resolving kind names and rendering; the CLI shell in ctl/cli.ts does the I/O.
 */
import { CaracalError, ErrorCodes } from '../common/errors.js';
import { formatColumns } from '../common/table.js';
import { apiVersionOf, type KindInfo } from '../model/kind.js';
import { KINDS, type KindName } from '../model/kinds.js';

/** Accepts the registry key, kind, plural, singular or a short name, case-insensitively (`ippool`, `ippools`). */
export function resolveKind(name: string): KindName {
  const n = name.toLowerCase();
  for (const [key, k] of Object.entries(KINDS) as [KindName, KindInfo][]) {
    if (key === 'K8sNode') continue; // "node" means Caracal's Node; the native one is "k8snode"
    if ([key.toLowerCase(), k.plural, k.singular, ...(k.shortNames ?? [])].includes(n)) return key;
  }
  if (n === 'k8snode' || n === 'k8snodes') return 'K8sNode';
  throw new CaracalError(
    ErrorCodes.UnknownKind,
    `Cannot resolve kind "${name}": known kinds are ${Object.keys(KINDS).join(', ')}`,
  );
}

/** The registry key for a manifest's apiVersion + kind. */
export function kindOfManifest(doc: unknown, where: string): KindName {
  const d = doc as { apiVersion?: unknown; kind?: unknown } | null;
  if (!d || typeof d !== 'object' || typeof d.apiVersion !== 'string' || typeof d.kind !== 'string') {
    throw new CaracalError(ErrorCodes.InvalidResource, `Cannot apply ${where}: apiVersion and kind must be strings`);
  }
  for (const [key, k] of Object.entries(KINDS) as [KindName, KindInfo][]) {
    if (k.kind === d.kind && apiVersionOf(k) === d.apiVersion) return key;
  }
  throw new CaracalError(
    ErrorCodes.UnknownKind,
    `Cannot apply ${where}: no kind "${d.kind}" in apiVersion "${d.apiVersion}"`,
  );
}

interface Row {
  metadata: {
    name: string;
    namespace?: string | undefined;
    resourceVersion?: string | undefined;
    creationTimestamp?: string | undefined;
  };
}

/** A kubectl-like table: NAME (and NAMESPACE for namespaced kinds), REVISION. */
export function renderTable(kind: KindInfo, items: readonly Row[]): string {
  const head = kind.namespaced ? ['NAMESPACE', 'NAME', 'REVISION'] : ['NAME', 'REVISION'];
  const rows = items.map((o) => {
    const base = [o.metadata.name, o.metadata.resourceVersion ?? ''];
    return kind.namespaced ? [o.metadata.namespace ?? '', ...base] : base;
  });
  return formatTable(head, rows);
}

/** `head` above `rows`, in aligned columns (common/table.ts). */
export function formatTable(head: readonly string[], rows: readonly (readonly unknown[])[]): string {
  // Cells may come from another process's JSON: print whatever is there rather than crash on a non-string.
  return formatColumns([head, ...rows.map((r) => r.map((c) => (c === undefined || c === null ? '' : String(c))))]);
}
