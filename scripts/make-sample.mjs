#!/usr/bin/env node
// Regenerates samples/exchange-epm.pcap from the encoders (`npm run sample` compiles scripts/ first).
// Deterministic: the same source gives the same bytes, so test/dataplane/sample-capture.test.ts
// can compare the committed file byte for byte. Regenerate only on purpose (a change to the
// sample's story or to an encoder), and commit the new file with the change that caused it.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { buildSampleCapture } = await import(path.join(root, 'scripts', 'dist', 'scripts', 'sample-capture.js')).catch((e) => {
  console.error(`make-sample: cannot load scripts/dist/scripts/sample-capture.js (${e.message}); run \`npm run sample\``);
  process.exit(1);
});
const out = path.join(root, 'samples', 'exchange-epm.pcap');
mkdirSync(path.dirname(out), { recursive: true });
buildSampleCapture(out);
console.log(`make-sample: wrote ${path.relative(process.cwd(), out) || out}`);
