import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';

import { InvalidInputError } from '../../src/errors.js';

/** A name no other test uses: the prefix and eight random hex digits. */
export function unique(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

/**
 * Stands in for the Prisma client or the pg pool, at any depth; fails the test if a query is ever
 * sent. Proves a check ran before the database was asked.
 */
export const noDatabase: any = new Proxy(() => undefined, {
  get: () => noDatabase,
  apply: () => {
    throw new Error('the database was reached');
  },
});

/** An assert.rejects matcher: an InvalidInputError about `field`, with the INVALID_INPUT code. */
export function isInvalid(field: string) {
  return (error: unknown) => {
    assert.ok(error instanceof InvalidInputError, `expected InvalidInputError, got ${String(error)}`);
    assert.equal(error.field, field);
    assert.equal(error.code, 'INVALID_INPUT');
    return true;
  };
}

/** A port on 127.0.0.1 that was free a moment ago and now has no listener. */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
