// Source entry for running caracalctl unbuilt (tests, development): `node --import tsx ctl/main.ts ...`.
import { main } from './cli.js';

await main(process.argv.slice(2));
