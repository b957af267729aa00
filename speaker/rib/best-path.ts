/**
 * The BGP decision process (RFC 4271 §9.1 with the RFC 4456 §9 additions) as a pure table of steps, the
 * shape of BIRD's `bgp_rte_better` with GoBGP's recorded reason. `loc-rib.ts` calls `selectBest` for every
 * touched prefix that has more than one candidate; a single candidate needs no decision ('only-path').
 *
 * Choices the RFCs leave to us, stated once:
 *  - 'local-origin' (before §9.1.1): a route this speaker originates beats any learned one. RFC 4271 §9.1.1
 *    leaves the degree of preference to local policy; Cisco's weight 32768 and BIRD's protocol preference
 *    (static 200 over BGP 100) do the same.
 *  - A missing LOCAL_PREF counts as 100 (the common default) and a missing MED as 0, the RFC 4271 §9.1.2.2
 *    (c) reading ("if a route does not carry MED, it is treated as having the lowest possible value"): the
 *    `Path` builder in loc-rib.ts normalises both, so this file compares plain numbers.
 *  - IGP cost (§9.1.2.2 e) is whatever the RIB's `igpCost` hook returned when the path was built (0 today).
 *
 * MED makes pairwise comparison non-transitive (A beats B on MED, B beats C on router id, C beats A on
 * MED is possible when A and C share a neighbour AS and B does not; BIRD's comment in bgp_rte_better says
 * as much). So `selectBest` does what §9.1.2.2 literally describes: it removes routes step by step from the
 * whole set, and at step (c) it groups the survivors by neighbour AS and removes, within each group, those
 * whose MED is above the group's lowest. The result depends only on the set, never on arrival order.
 */

/** Normalised at `Path` construction (loc-rib.ts), so comparing reads numbers and allocates nothing. */
export interface Candidate {
  /** Originated by this speaker (the local pseudo-peer). */
  readonly local: boolean;
  /** LOCAL_PREF, 100 when absent. */
  readonly localPref: number;
  readonly asPathLen: number;
  readonly origin: number;
  /** MULTI_EXIT_DISC, 0 when absent. */
  readonly med: number;
  readonly neighborAs: number;
  readonly ibgp: boolean;
  readonly igpCost: number;
  /** ORIGINATOR_ID when present (RFC 4456 §9 a), else the peer's BGP identifier. */
  readonly routerId: number;
  readonly clusterListLen: number;
  readonly peerAddr: bigint;
  /** RFC 7911 path identifier, 0 without ADD-PATH; last resort between paths of one peer. */
  readonly pathId: number;
}

export type DecisionStep =
  | 'local-origin'
  | 'local-pref'
  | 'as-path'
  | 'origin'
  | 'med'
  | 'ebgp'
  | 'igp-cost'
  | 'router-id'
  | 'cluster-list'
  | 'peer-addr'
  | 'path-id';

/** The reason recorded for a best path: a step, or why no step was needed. */
export type BestReason = DecisionStep | 'only-path' | 'equal';

type Cmp = (a: Candidate, b: Candidate) => number;

/** RFC order. Each comparison: negative means `a` is preferred. */
export const STEPS: readonly (readonly [DecisionStep, Cmp])[] = [
  ['local-origin', (a, b) => Number(b.local) - Number(a.local)],
  ['local-pref', (a, b) => b.localPref - a.localPref], // RFC 4271 §9.1.1: higher degree of preference wins
  ['as-path', (a, b) => a.asPathLen - b.asPathLen], // §9.1.2.2 (a)
  ['origin', (a, b) => a.origin - b.origin], // (b) IGP < EGP < INCOMPLETE
  ['med', (a, b) => (a.neighborAs === b.neighborAs ? a.med - b.med : 0)], // (c) only within one neighbour AS
  ['ebgp', (a, b) => Number(a.ibgp) - Number(b.ibgp)], // (d) eBGP over iBGP
  ['igp-cost', (a, b) => a.igpCost - b.igpCost], // (e)
  ['router-id', (a, b) => a.routerId - b.routerId], // (f), ORIGINATOR_ID in its place: RFC 4456 §9 (a)
  ['cluster-list', (a, b) => a.clusterListLen - b.clusterListLen], // RFC 4456 §9 (b): between (f) and (g)
  ['peer-addr', (a, b) => (a.peerAddr < b.peerAddr ? -1 : a.peerAddr > b.peerAddr ? 1 : 0)], // (g)
  ['path-id', (a, b) => a.pathId - b.pathId], // ours: ADD-PATH paths of one peer
];

/** Pairwise comparison; negative when `a` is preferred. Not transitive across neighbour ASes (see header). */
export function comparePaths(a: Candidate, b: Candidate): number {
  for (let i = 0; i < STEPS.length; i++) {
    const d = STEPS[i]![1](a, b);
    if (d !== 0) return d;
  }
  return 0;
}

/** Which step tells `a` and `b` apart, for `caracal bgp show` and tests. */
export function decidingStep(a: Candidate, b: Candidate): DecisionStep | undefined {
  for (const [name, cmp] of STEPS) if (cmp(a, b) !== 0) return name;
  return undefined;
}

/** The winner's index in `cands` and the step that eliminated the last rival. */
export interface Selection {
  readonly index: number;
  readonly reason: BestReason;
}

/**
 * RFC 4271 §9.1.2.2 as elimination over the whole candidate set (see the module header for why not a
 * sort). Two candidates (the common case) take the allocation-free pairwise path, which agrees with
 * elimination for two.
 * @example selectBest([a, b]) // { index: 1, reason: 'local-pref' }
 */
export function selectBest(cands: readonly Candidate[]): Selection {
  const n = cands.length;
  if (n === 0) throw new RangeError('Cannot select a best path: no candidates');
  if (n === 1) return { index: 0, reason: 'only-path' };
  if (n === 2) {
    for (const [name, cmp] of STEPS) {
      const d = cmp(cands[0]!, cands[1]!);
      if (d !== 0) return { index: d < 0 ? 0 : 1, reason: name };
    }
    return { index: 0, reason: 'equal' };
  }
  let alive: number[] = [];
  for (let i = 0; i < n; i++) alive.push(i);
  for (const [name, cmp] of STEPS) {
    alive = name === 'med' ? eliminateMed(cands, alive) : eliminate(cands, alive, cmp);
    if (alive.length === 1) return { index: alive[0]!, reason: name };
  }
  // Only identical candidates remain: pick the lowest index so the result is still deterministic.
  return { index: Math.min(...alive), reason: 'equal' };
}

function eliminate(cands: readonly Candidate[], alive: number[], cmp: Cmp): number[] {
  let best = alive[0]!;
  for (const i of alive) if (cmp(cands[i]!, cands[best]!) < 0) best = i;
  return alive.filter((i) => cmp(cands[i]!, cands[best]!) === 0);
}

/** RFC 4271 §9.1.2.2 (c): per neighbour AS, drop routes whose MED is above that AS's lowest. */
function eliminateMed(cands: readonly Candidate[], alive: number[]): number[] {
  const minMed = new Map<number, number>();
  for (const i of alive) {
    const c = cands[i]!;
    const m = minMed.get(c.neighborAs);
    if (m === undefined || c.med < m) minMed.set(c.neighborAs, c.med);
  }
  if (minMed.size === alive.length) return alive;
  return alive.filter((i) => cands[i]!.med === minMed.get(cands[i]!.neighborAs));
}
