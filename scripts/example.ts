/**
 * `npm run example`: a walk through the API against a running server.
 *   BASE_URL        the server (default http://127.0.0.1:3000)
 *   ADMIN_PASSWORD  the admin's password (SEED_ADMIN_PASSWORD, or the one `npm start` printed)
 * Two users register and sign in from two user agents, list and revoke sessions, and one changes
 * her password; the admin searches, deactivates one of them and reads the audit trail. Safe to
 * run again: names are fresh.
 */
const base = process.env.BASE_URL ?? 'http://127.0.0.1:3000';
const adminPassword = process.env.ADMIN_PASSWORD;

interface Reply {
  status: number;
  body: any;
}

async function call(
  method: string,
  path: string,
  options: { token?: string; body?: unknown; agent?: string } = {},
): Promise<Reply> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(options.body !== undefined && { 'content-type': 'application/json' }),
      ...(options.token && { authorization: `Bearer ${options.token}` }),
      'user-agent': options.agent ?? 'infinity-example/1.0',
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

function show(step: string, reply: Reply, summary: unknown = reply.body): void {
  process.stdout.write(`${step}\n  -> ${reply.status} ${JSON.stringify(summary)}\n`);
}

async function main(): Promise<void> {
  if (!adminPassword) throw new Error('set ADMIN_PASSWORD to the admin password printed by `npm start`');
  const tag = Date.now().toString(36);
  const alice = {
    username: `alice-${tag}`,
    password: 'correct-horse-battery-staple-1',
    email: `alice-${tag}@example.com`,
  };
  const bob = { username: `bob-${tag}`, password: 'a much longer passphrase for bob' };

  const first = await call('POST', '/auth/register', { body: alice });
  show('1. alice registers', first, first.body.user);
  show('2. bob registers', await call('POST', '/auth/register', { body: bob }), '(user created)');
  show('3. alice registers again', await call('POST', '/auth/register', { body: alice }));

  const laptop = await call('POST', '/auth/login', {
    body: { username: alice.username, password: alice.password },
    agent: 'Firefox/133 (laptop)',
  });
  const phone = await call('POST', '/auth/login', {
    body: { username: alice.email, password: alice.password },
    agent: 'MobileSafari/18 (phone)',
  });
  show('4. alice signs in from a laptop, then from a phone with her email', phone, {
    tokenType: phone.body.tokenType,
    expiresAt: phone.body.expiresAt,
  });
  show(
    '5. a wrong password',
    await call('POST', '/auth/login', {
      body: { username: alice.username, password: 'not the right password' },
    }),
  );

  const sessions = await call('GET', '/auth/sessions', { token: phone.body.accessToken });
  show(
    '6. alice lists her sessions (from the phone)',
    sessions,
    sessions.body.sessions.map((s: any) => ({ id: s.id, userAgent: s.userAgent, current: s.current })),
  );
  const laptopSession = sessions.body.sessions.find((s: any) => !s.current);
  show(
    '7. she revokes the laptop session',
    await call('DELETE', `/auth/sessions/${laptopSession.id}`, { token: phone.body.accessToken }),
  );
  show(
    '8. the laptop token is dead at once',
    await call('GET', '/auth/me', { token: laptop.body.accessToken }),
  );

  const laptopAgain = await call('POST', '/auth/login', {
    body: { username: alice.username, password: alice.password },
    agent: 'Firefox/133 (laptop)',
  });
  const newPassword = 'a lantern by the northern gate';
  show(
    '9. alice signs in on the laptop again, then changes her password from the phone',
    await call('POST', '/auth/password', {
      token: phone.body.accessToken,
      body: { currentPassword: alice.password, newPassword },
    }),
  );
  const [laptopNow, phoneNow] = await Promise.all([
    call('GET', '/auth/me', { token: laptopAgain.body.accessToken }),
    call('GET', '/auth/me', { token: phone.body.accessToken }),
  ]);
  show('10. the laptop is signed out, the phone is not', laptopNow, {
    laptop: laptopNow.status,
    phone: phoneNow.status,
  });

  const bobLogin = await call('POST', '/auth/login', { body: bob, agent: 'curl/8' });
  show(
    '11. bob tries the admin API',
    await call('GET', '/admin/users', { token: bobLogin.body.accessToken }),
  );

  const admin = await call('POST', '/auth/login', { body: { username: 'admin', password: adminPassword } });
  if (admin.status !== 200) throw new Error(`admin sign-in failed (${admin.status}): check ADMIN_PASSWORD`);
  const found = await call('GET', `/admin/users?search=${tag}&limit=10`, { token: admin.body.accessToken });
  show(`12. admin searches for "${tag}"`, found, {
    total: found.body.total,
    users: found.body.users.map((u: any) => u.username),
  });
  const bobId = found.body.users.find((u: any) => u.username === bob.username).id;
  const patched = await call('PATCH', `/admin/users/${bobId}`, {
    token: admin.body.accessToken,
    body: { isActive: false },
  });
  show('13. admin deactivates bob', patched, {
    username: patched.body.user.username,
    isActive: patched.body.user.isActive,
  });
  show(
    "14. bob's token is dead at once",
    await call('GET', '/auth/me', { token: bobLogin.body.accessToken }),
  );
  show(
    '15. bob cannot sign in: same answer as a wrong password',
    await call('POST', '/auth/login', { body: bob }),
  );

  await new Promise((resolve) => setTimeout(resolve, 1000)); // audit rows are written in batches
  const trail = await call('GET', '/admin/audit-logs?limit=14', { token: admin.body.accessToken });
  show(
    '16. admin reads the audit trail, newest first',
    trail,
    trail.body.items.map((i: any) => `${i.action} ${i.responseStatus} ${i.userAgent ?? ''}`.trim()),
  );
  const secretsLeaked = [alice.password, bob.password, newPassword].some((secret) =>
    JSON.stringify(trail.body).includes(secret),
  );
  process.stdout.write(
    `17. passwords in the audit trail: ${secretsLeaked ? 'FOUND (bug!)' : 'none, redacted'}\n`,
  );
}

main().catch((error: unknown) => {
  const reason = error instanceof Error ? error.message : String(error);
  process.stderr.write(`example failed against ${base}: ${reason}\n`);
  process.exit(1);
});
