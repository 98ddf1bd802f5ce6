// Run by `npm run build` (and the bench's build) after tsc: writes <out>/policy/rules-validator.cjs,
// the rules schema compiled to code (see src/policy/schema.ts). Argument: the build's src output
// directory (default dist). schema.js reads the schema two levels above itself: a build outside
// the repository root (bench/dist/src) gets a copy there.
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.resolve(process.argv[2] ?? path.join(root, 'dist'));
const schemaThere = path.resolve(out, '..', 'rules', 'schema.json');
const schema = path.join(root, 'rules', 'schema.json');
if (schemaThere !== schema) {
  mkdirSync(path.dirname(schemaThere), { recursive: true });
  copyFileSync(schema, schemaThere);
}
const { writePrecompiledValidator } = await import(pathToFileURL(path.join(out, 'policy', 'schema.js')).href);
writePrecompiledValidator();
