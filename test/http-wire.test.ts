import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';

import { startApp, type TestApp } from './helpers/app.js';

/*
 * What the service answers below its routes: requests Node's HTTP parser cannot read, and
 * requests that are not received in time. Each gets the usual `{ error: { code, message } }`
 * body, not the framework's own, written straight to the socket.
 */

let t: TestApp;
before(async () => {
  t = await startApp({ env: { REQUEST_TIMEOUT_MS: '1000' } });
});
after(async () => {
  await t.close();
});

interface RawAnswer {
  status: number;
  headers: string;
  body: any;
  closed: boolean;
}

/** Writes `chunks` to a fresh connection, then reads until the server closes it. */
async function raw(chunks: (string | Buffer)[]): Promise<RawAnswer> {
  const { port } = new URL(t.url);
  const socket = connect(Number(port), '127.0.0.1');
  await once(socket, 'connect');
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => undefined);
  const closed = once(socket, 'close');
  for (const chunk of chunks) socket.write(chunk);
  await closed;
  const [head = '', body = ''] = text.split('\r\n\r\n');
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]),
    headers: head.toLowerCase(),
    body: body === '' ? undefined : JSON.parse(body),
    closed: true,
  };
}

describe('requests the HTTP parser cannot read', () => {
  it('answers bad syntax with 400 MALFORMED_REQUEST and closes the connection', async () => {
    const answer = await raw(['THIS IS NOT HTTP\r\n\r\n']);

    assert.equal(answer.status, 400);
    assert.deepEqual(answer.body, {
      error: { code: 'MALFORMED_REQUEST', message: 'The request is not valid HTTP.' },
    });
    assert.match(answer.headers, /content-type: application\/json/);
    assert.match(answer.headers, /cache-control: no-store/);
  });

  it('answers a duplicated Content-Length with 400 MALFORMED_REQUEST', async () => {
    const answer = await raw([
      'POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}',
    ]);

    assert.equal(answer.status, 400);
    assert.equal(answer.body.error.code, 'MALFORMED_REQUEST');
  });

  it('answers headers over the limit with 431 HEADERS_TOO_LARGE', async () => {
    const answer = await raw([`GET /health HTTP/1.1\r\nHost: x\r\nX-Filler: ${'a'.repeat(20_000)}\r\n\r\n`]);

    assert.equal(answer.status, 431);
    assert.equal(answer.body.error.code, 'HEADERS_TOO_LARGE');
  });

  // The test's own timeout: set only after construction, Node enforced a requestTimeout at 60 s.
  it(
    'answers a request not received within REQUEST_TIMEOUT_MS with 408 REQUEST_TIMEOUT',
    { timeout: 30_000 },
    async () => {
      const started = Date.now();
      const answer = await raw([
        'POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{"us',
      ]);

      assert.equal(answer.status, 408);
      assert.equal(answer.body.error.code, 'REQUEST_TIMEOUT');
      assert.ok(Date.now() - started >= 1000, 'not before REQUEST_TIMEOUT_MS');
    },
  );
});
