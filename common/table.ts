/** Plain-text tables for the CLIs (`caracalctl`, `caracal lab`): no domain knowledge, no I/O. */

/**
 * Aligned columns, two spaces apart, the last column left unpadded and trailing blanks trimmed; the first row
 * is normally the header.
 *
 * @example formatColumns([['NAME', 'AS'], ['tor-1', '65001']]) // 'NAME   AS\ntor-1  65001'
 */
export function formatColumns(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows)
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
