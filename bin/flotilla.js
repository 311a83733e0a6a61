#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, so `npx flotilla` works from a checkout with no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
await main(process.argv.slice(2));
