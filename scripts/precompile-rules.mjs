// Run by `npm run build` (and the bench's build) after tsc: writes <out>/policy/rules-validator.cjs,
// the rules schema compiled to code (see src/policy/schema.ts). Argument: the build's src output
// directory (default dist).
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const out = process.argv[2] ?? 'dist';
const { writePrecompiledValidator } = await import(pathToFileURL(path.resolve(out, 'policy', 'schema.js')).href);
writePrecompiledValidator();
