/**
 * Loading a rules file: text -> located JSON -> schema (rules/schema.json) -> semantic checks ->
 * compiled numbers. Pure: the caller reads the file and passes its text and name. Every problem
 * is collected before anything is thrown.
 */
import { checkSemantics } from './check.js';
import { compileDocument } from './compile.js';
import type { CompiledRules } from './compiled.js';
import { ProblemSink } from './document.js';
import type { RulesDocument } from './document.js';
import { RulesError } from './errors.js';
import type { RuleProblem } from './errors.js';
import { lineColumn, parseJsonLocated } from './json.js';
import { checkSchema } from './schema.js';

export { RulesError, formatProblem } from './errors.js';
export type { RuleProblem } from './errors.js';

export interface LoadedRules {
  rules: CompiledRules;
  /** Non-fatal findings (e.g. an idle timeout too short for AsyncEMSMDB), in file order. */
  warnings: RuleProblem[];
}

/**
 * Validates and compiles the rules file `text`; `fileName` is used in messages only.
 * Throws RulesError listing every problem (never anything else) if the file has any error.
 */
export function loadRules(text: string, fileName: string): LoadedRules {
  const parsed = parseJsonLocated(text);
  if (!parsed.ok) {
    const { line, column } = lineColumn(text, parsed.offset);
    throw new RulesError([{
      file: fileName, path: '', line, column,
      message: `invalid JSON at line ${line}, column ${column}: ${parsed.message}`,
    }]);
  }
  const doc = parsed.value;
  const sink = new ProblemSink(fileName, text, parsed.offsets, doc);
  for (const d of parsed.duplicates) {
    sink.error(d.path, `duplicate property ${JSON.stringify(d.key)} ` +
      '(only the first one would be used; remove one of them)', d.offset);
  }
  const shapeOk = checkSchema(doc, sink);
  checkSemantics(doc, sink);
  if (!shapeOk || sink.errors.length > 0) throw new RulesError(sink.sorted(sink.errors));
  return { rules: compileDocument(doc as RulesDocument), warnings: sink.sorted(sink.warnings) };
}
