/**
 * Reads the JSON-lines report `rpcgw replay --report` writes and gathers it into one object:
 * the summary's counters plus every record grouped by kind (rewrites, mappings, connections,
 * closed, refusals, notifications). Also checks the framing a consumer relies on: the first
 * line names the schema, the last is the summary, and the summary's counts match the lines.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { REPLAY_REPORT_SCHEMA, type ReplayRecord, type ReplayRecordKind, type ReplayReport } from '../../src/dataplane/replay.js';

type Of<K extends ReplayRecordKind> = Extract<ReplayRecord, { record: K }>;

export interface GatheredReport extends ReplayReport {
  rewrites: Of<'rewrite'>[];
  mappings: Of<'mapping'>[];
  connections: Of<'connection'>[];
  closed: Of<'closed'>[];
  refusals: Of<'refusal'>[];
  notifications: Of<'notification'>[];
}

const GROUP: Record<ReplayRecordKind, keyof GatheredReport> = {
  rewrite: 'rewrites', mapping: 'mappings', connection: 'connections', closed: 'closed', refusal: 'refusals', notification: 'notifications',
};

export function parseReplayReport(text: string): GatheredReport {
  expect(text.endsWith('\n')).toBe(true);
  const lines = text.slice(0, -1).split('\n').map((l) => JSON.parse(l) as { record: string });
  expect(lines.length).toBeGreaterThanOrEqual(2);
  const head = lines[0] as { record: string; schema: string };
  expect(head.record).toBe('replay');
  expect(head.schema).toBe(REPLAY_REPORT_SCHEMA);
  const summary = lines[lines.length - 1] as { record: string } & ReplayReport;
  expect(summary.record).toBe('summary');
  const out = { ...summary, rewrites: [], mappings: [], connections: [], closed: [], refusals: [], notifications: [] } as unknown as GatheredReport;
  for (const l of lines.slice(1, -1)) {
    const group = GROUP[l.record as ReplayRecordKind];
    expect(group, `record kind ${l.record}`).toBeDefined();
    (out[group] as unknown[]).push(l);
  }
  for (const [kind, group] of Object.entries(GROUP)) expect((out[group] as unknown[]).length, kind).toBe(summary.records[kind as ReplayRecordKind]);
  return out;
}

export function readReplayReport(file: string): GatheredReport {
  return parseReplayReport(readFileSync(file, 'utf8'));
}
