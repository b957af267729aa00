/**
 * speaker/wire: the BGP-4 wire codec. Pure: no sockets, timers or logging (see docs/design/bgp-wire.md).
 */
export * from './attrs.js';
export * from './errors.js';
export * from './framing.js';
export * from './message.js';
export * from './messages.js';
export * from './open.js';
export * from './prefix.js';
export * from './types.js';
export * from './update.js';
