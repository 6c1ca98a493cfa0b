import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';

import { startApp, type TestApp } from './helpers/app.js';
import { captureLogs } from './helpers/logs.js';

/*
 * What the service answers below its routes: requests Node's HTTP parser cannot read, and
 * requests that are not received in time. Each gets the usual `{ error: { code, message } }`
 * body, not the framework's own, written straight to the socket.
 */

const { logger, lines } = captureLogs('debug');
let t: TestApp;
before(async () => {
  t = await startApp({ env: { REQUEST_TIMEOUT_MS: '1000' }, logger });
});
after(async () => {
  await t.close();
});

interface RawAnswer {
  status: number;
  headers: string;
  /** The body parsed, when it is JSON. */
  body: any;
  /** The body as received. */
  text: string;
  closed: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The x-request-id header of an answer, or undefined. */
function requestId(answer: RawAnswer): string | undefined {
  return /^x-request-id: (.*)$/m.exec(answer.headers)?.[1]?.trim();
}

/** Asserts the answer carries a fresh request id, the one its debug log line names. */
function assertRequestId(answer: RawAnswer): string {
  const id = requestId(answer);
  assert.match(id ?? '', UUID, 'an x-request-id header');
  const logged = lines.filter((line) => line.msg === 'unreadable request refused' && line.reqId === id);
  assert.equal(logged.length, 1, 'one debug line names the id');
  return id!;
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
  const headers = head.toLowerCase();
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]),
    headers,
    body: /content-type: application\/json/.test(headers) ? JSON.parse(body) : undefined,
    text: body,
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

  it('gives every such answer an x-request-id of its own, named by its debug log line', async () => {
    const first = await raw(['THIS IS NOT HTTP\r\n\r\n']);
    const second = await raw(['THIS IS NOT HTTP\r\n\r\n']);
    const tooLarge = await raw([
      `GET /health HTTP/1.1\r\nHost: x\r\nX-Filler: ${'a'.repeat(20_000)}\r\n\r\n`,
    ]);

    const ids = [assertRequestId(first), assertRequestId(second), assertRequestId(tooLarge)];
    assert.equal(new Set(ids).size, 3);
  });

  it('answers a CONNECT request (this is no proxy) with 400 MALFORMED_REQUEST and an x-request-id', async () => {
    const answer = await raw(['CONNECT example.invalid:443 HTTP/1.1\r\nHost: example.invalid:443\r\n\r\n']);

    assert.equal(answer.status, 400);
    assert.equal(answer.body.error.code, 'MALFORMED_REQUEST');
    assertRequestId(answer);
  });

  it('leaves an HTTP/1.1 request without a Host header to Node: a bare 400, as docs/errors.md says', async () => {
    const answer = await raw(['GET /health HTTP/1.1\r\n\r\n']);

    assert.equal(answer.status, 400);
    assert.equal(answer.body, undefined, 'no error body');
    assert.equal(requestId(answer), undefined);
    assert.match(answer.headers, /connection: close/);
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
      assertRequestId(answer);
      assert.ok(Date.now() - started >= 1000, 'not before REQUEST_TIMEOUT_MS');
    },
  );
});
