import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as contracts from './index.js';
import * as constants from './constants.js';

describe('the zod-free entry', () => {
  it('imports nothing at run time, so a browser bundle takes it without zod', () => {
    const source = readFileSync(new URL('./constants.ts', import.meta.url), 'utf8');
    expect(source).not.toMatch(/^\s*(import|export)\b[^;]*\bfrom\s/m);
    expect(source).not.toMatch(/\bimport\s*\(/);
  });

  it('is exported as the package entry `@siteflow/contracts/constants`, and again from the main entry', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { exports: Record<string, unknown> };
    expect(pkg.exports['./constants']).toEqual({ types: './dist/constants.d.ts', default: './dist/constants.js' });
    for (const [name, value] of Object.entries(constants)) expect(contracts[name as keyof typeof contracts], name).toBe(value);
  });
});

describe('the schemas are built from the constants', () => {
  it('closed sets', () => {
    expect(contracts.ErrorCode.options).toEqual(constants.ERROR_CODES);
    expect(contracts.Role.options).toEqual(constants.ROLES);
    expect(contracts.ProjectStatus.options).toEqual(constants.PROJECT_STATUSES);
    expect(contracts.DocumentType.options).toEqual(constants.DOCUMENT_TYPES);
    expect(contracts.UnlockReason.options).toEqual(constants.UNLOCK_REASONS);
  });

  it('bounds, counted after trimming', () => {
    const accepts = (schema: { safeParse: (v: unknown) => { success: boolean } }, value: unknown) => schema.safeParse(value).success;
    const x = (n: number) => 'x'.repeat(n);
    expect(accepts(contracts.PostMessagePayload, { text: ` ${x(constants.CHAT_MAX_TEXT)} ` })).toBe(true);
    expect(accepts(contracts.PostMessagePayload, { text: x(constants.CHAT_MAX_TEXT + 1) })).toBe(false);
    expect(accepts(contracts.AddItemPayload, { title: x(constants.CHECKLIST_TITLE_MAX) })).toBe(true);
    expect(accepts(contracts.AddItemPayload, { title: x(constants.CHECKLIST_TITLE_MAX + 1) })).toBe(false);
    expect(accepts(contracts.EditItemPayload, { item_id: 1, title: x(constants.CHECKLIST_TITLE_MAX + 1) })).toBe(false);
    expect(accepts(contracts.AddItemPayload, { title: 't', description: x(constants.CHECKLIST_DESCRIPTION_MAX + 1) })).toBe(false);
    expect(accepts(contracts.UpdateProjectPayload, { name: x(constants.PROJECT_NAME_MAX) })).toBe(true);
    expect(accepts(contracts.UpdateProjectPayload, { name: x(constants.PROJECT_NAME_MAX + 1) })).toBe(false);
  });

  it('topics pass the topic schemas', () => {
    for (const id of [1, 42, Number.MAX_SAFE_INTEGER]) {
      expect(contracts.ProjectTopic.safeParse(constants.projectTopic(id)).success).toBe(true);
      expect(contracts.UserTopic.safeParse(constants.userTopic(id)).success).toBe(true);
      expect(contracts.parseTopic(constants.projectTopic(id))).toEqual({ kind: 'project', projectId: id });
    }
  });
});

describe('computeProgress', () => {
  it('is the share of ticked items as a percentage with one decimal', () => {
    expect(constants.computeProgress(27, 40)).toEqual({ progress: 67.5, completed_items: 27, total_items: 40 });
    expect(constants.computeProgress(1, 3).progress).toBe(33.3);
    expect(constants.computeProgress(2, 3).progress).toBe(66.7);
    expect(constants.computeProgress(40, 40).progress).toBe(100);
    expect(constants.computeProgress(0, 0).progress).toBe(0);
    expect(contracts.Progress.safeParse(constants.computeProgress(1, 7)).success).toBe(true);
  });
});
