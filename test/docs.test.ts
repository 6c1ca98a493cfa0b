import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';

import { AUDIT_ACTIONS } from '../src/audit-actions.js';
import { CONFIG_VARIABLES } from '../src/config.js';
import { ERROR_CODES } from '../src/errors.js';

/**
 * The cells after the first of every Markdown table row whose first cell is a `code`, keyed by
 * that code; only under the heading `section` when it is given.
 */
async function tableRows(file: string, section?: string): Promise<Map<string, string[]>> {
  let text = await readFile(new URL(`../${file}`, import.meta.url), 'utf8');
  if (section !== undefined) text = text.split(`\n## ${section}\n`)[1]?.split('\n## ')[0] ?? '';
  const rows = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const match = /^\|\s*`([^`]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (match)
      rows.set(
        match[1]!,
        match[2]!.split('|').map((cell) => cell.trim()),
      );
  }
  return rows;
}

describe('docs/errors.md', () => {
  it('has a row for every error code, with its HTTP status and an explanation', async () => {
    const rows = await tableRows('docs/errors.md');

    for (const [code, { status }] of Object.entries(ERROR_CODES)) {
      const row = rows.get(code);
      assert.ok(row, `${code} is not documented in docs/errors.md`);
      assert.equal(row[0], String(status), `${code}: documented status`);
      assert.ok((row[1] ?? '').length > 20, `${code}: says when it happens`);
    }
  });

  it('documents no code the service does not have', async () => {
    const rows = await tableRows('docs/errors.md');

    assert.deepEqual(
      [...rows.keys()].filter((code) => !(code in ERROR_CODES)),
      [],
    );
  });
});

describe('docs/audit-actions.md', () => {
  it('has a row for every audit action, saying when it is written and what it holds', async () => {
    const rows = await tableRows('docs/audit-actions.md', 'Actions');

    for (const action of Object.values(AUDIT_ACTIONS)) {
      const row = rows.get(action);
      assert.ok(row, `${action} is not documented in docs/audit-actions.md`);
      assert.equal(row.length, 3, `${action}: resource, when, request data`);
      assert.ok(
        row.every((cell) => cell.length > 0),
        `${action}: no empty cell`,
      );
    }
  });

  it('documents no action the service does not write', async () => {
    const rows = await tableRows('docs/audit-actions.md', 'Actions');
    const actions = new Set<string>(Object.values(AUDIT_ACTIONS));

    assert.deepEqual(
      [...rows.keys()].filter((action) => !actions.has(action)),
      [],
    );
  });
});

describe('README.md', () => {
  it('has a configuration row, with a default and a meaning, for every variable the service reads', async () => {
    const rows = await tableRows('README.md', 'Configuration');

    for (const variable of CONFIG_VARIABLES) {
      const row = rows.get(variable);
      assert.ok(row, `${variable} is not in the README's configuration table`);
      assert.ok((row[0] ?? '').length > 0 && (row[1] ?? '').length > 10, `${variable}: default and meaning`);
    }
  });
});
