/**
 * Rule slots: the tables (flows, mappings) store a rule's *slot*, stable across reloads by rule
 * name, not the rule's position in the file, so a SIGHUP that reorders or adds rules keeps every
 * mapping of the rules that remain. A removed rule's slot is freed for a later new name.
 */
import type { CompiledRule, CompiledRules } from '../policy/compiled.js';

export class RuleSlots {
  /** The rules in force. */
  rules: CompiledRules;
  private readonly bySlot: (CompiledRule | null)[] = [];
  private slotOfIndex = new Int32Array(0);
  private readonly slotOfName = new Map<string, number>();

  constructor(rules: CompiledRules) {
    this.rules = rules;
    this.assign(rules);
  }

  /** The rule in `slot`: null once removed, undefined if never used. */
  rule(slot: number): CompiledRule | null | undefined {
    return this.bySlot[slot];
  }

  /** A rule's name, or '' (records of a rule removed meanwhile). */
  name(slot: number): string {
    return this.bySlot[slot]?.name ?? '';
  }

  /** The slot of the rule at `index` in the rules in force. */
  slotOf(index: number): number {
    return this.slotOfIndex[index]!;
  }

  slotNamed(name: string): number | undefined {
    return this.slotOfName.get(name);
  }

  /** Every rule name with its slot (a copy). */
  named(): Map<string, number> {
    return new Map(this.slotOfName);
  }

  /**
   * New rules in force: every rule gets its old slot if the name existed, else a free one.
   * Returns the slots in use; the others' names stay until `free`.
   */
  assign(rules: CompiledRules): Set<number> {
    this.rules = rules;
    const kept = new Set<number>();
    this.slotOfIndex = new Int32Array(rules.rules.length);
    for (const r of rules.rules) {
      let slot = this.slotOfName.get(r.name);
      if (slot === undefined) {
        slot = this.bySlot.findIndex((x, i) => x === null && !kept.has(i));
        if (slot < 0) slot = this.bySlot.length;
        this.slotOfName.set(r.name, slot);
      }
      this.bySlot[slot] = r;
      this.slotOfIndex[r.index] = slot;
      kept.add(slot);
    }
    return kept;
  }

  /** A removed rule's slot becomes free. */
  free(name: string, slot: number): void {
    this.slotOfName.delete(name);
    this.bySlot[slot] = null;
  }
}
