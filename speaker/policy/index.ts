/** speaker/policy: import/export policy model, compiler, built-ins and RFC 8212 defaults (docs/design/bgp-rib.md). */
export * from './policy.js';
