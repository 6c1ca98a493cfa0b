import { createHmac, randomUUID } from 'node:crypto';

import { jwtVerify, SignJWT } from 'jose';

export interface AccessTokenClaims {
  readonly userId: number;
  readonly jti: string;
  readonly expiresAt: Date;
}

/**
 * HS256 access tokens carrying sub, jti, iat and exp. The algorithm is pinned on verification, so
 * a token claiming "none" or an asymmetric algorithm is refused.
 */
export class TokenService {
  private readonly key: Uint8Array;

  constructor(
    secret: string,
    private readonly ttlSeconds: number,
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  async issue(userId: number, now = new Date()): Promise<{ token: string; claims: AccessTokenClaims }> {
    const jti = randomUUID();
    const issuedAt = Math.floor(now.getTime() / 1000);
    const expiresAt = new Date((issuedAt + this.ttlSeconds) * 1000);
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(String(userId))
      .setJti(jti)
      .setIssuedAt(issuedAt)
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .sign(this.key);
    return { token, claims: { userId, jti, expiresAt } };
  }

  /**
   * A keyed digest of `text`, the same in every instance that shares JWT_SECRET: it tells whether
   * two values were equal without keeping either, and no dictionary reverses it without the key.
   */
  fingerprint(text: string): string {
    return createHmac('sha256', this.key)
      .update('fingerprint\u0000')
      .update(text)
      .digest('base64url')
      .slice(0, 22);
  }

  /** The token's claims, or null for anything invalid: bad signature, expired, malformed. */
  async verify(token: string): Promise<AccessTokenClaims | null> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        requiredClaims: ['sub', 'jti', 'iat', 'exp'],
      });
      const userId = Number(payload.sub);
      if (!Number.isSafeInteger(userId) || userId < 1 || typeof payload.jti !== 'string') return null;
      return { userId, jti: payload.jti, expiresAt: new Date((payload.exp as number) * 1000) };
    } catch {
      return null;
    }
  }
}
