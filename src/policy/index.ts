/** Publishing rules: load (validate + compile) and the packet-path matchers. */
export { loadRules, RulesError, formatProblem } from './load.js';
export type { LoadedRules, RuleProblem } from './load.js';
export * from './compiled.js';
export { clientAllowed, selectRule, interfaceAllowed, ruleForMappedPort } from './match.js';
export { interfaceName, KNOWN_INTERFACES, INTERFACE_SETS } from './interfaces.js';
export type { KnownInterface } from './interfaces.js';
