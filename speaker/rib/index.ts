/**
 * speaker/rib: Adj-RIB-In, Loc-RIB with the decision process, Adj-RIB-Out, attribute interning. Pure: no
 * sockets, timers or logging (see docs/design/bgp-rib.md).
 */
export * from './adj-rib-in.js';
export * from './adj-rib-out.js';
export * from './attr-intern.js';
export * from './best-path.js';
export * from './loc-rib.js';
export * from './prefix-table.js';
