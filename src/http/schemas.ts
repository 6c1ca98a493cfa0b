/**
 * JSON schemas shared by the routes. They validate input, shape output (a user object cannot carry
 * its password hash: the serializer only writes listed properties) and feed the OpenAPI document.
 */

/** No control characters (C0, DEL and C1), anywhere in a string. */
export const NO_CONTROL_CHARS = '^[^\\u0000-\\u001F\\u007F-\\u009F]*$';

/** No C0 control characters and no DEL: the rule before C1 was refused too (see passwordSchema). */
export const NO_C0_CONTROL_CHARS = '^[^\\u0000-\\u001F\\u007F]*$';

/** Lowercase letters, digits, ".", "_" and "-", 3 to 32 long, starting and ending alphanumeric. */
export const USERNAME_PATTERN = '^[a-z0-9][a-z0-9._-]{1,30}[a-z0-9]$';

export const usernameSchema = {
  type: 'string',
  minLength: 3,
  maxLength: 32,
  pattern: USERNAME_PATTERN,
  description: 'Normalised (NFKC, lowercase) before it is checked; see docs/api.md.',
} as const;

export const emailSchema = { type: 'string', format: 'email', maxLength: 254 } as const;

export const idParamsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'integer', minimum: 1, maximum: 2_147_483_647 } },
} as const;

export const userSchema = {
  type: 'object',
  required: ['id', 'username', 'email', 'isActive', 'createdAt', 'updatedAt'],
  properties: {
    id: { type: 'integer' },
    username: { type: 'string' },
    email: { type: ['string', 'null'] },
    isActive: { type: 'boolean' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
} as const;

export const sessionSchema = {
  type: 'object',
  required: ['id', 'ipAddress', 'userAgent', 'createdAt', 'expiresAt'],
  properties: {
    id: { type: 'integer' },
    ipAddress: { type: ['string', 'null'] },
    userAgent: { type: ['string', 'null'] },
    createdAt: { type: 'string', format: 'date-time' },
    expiresAt: { type: 'string', format: 'date-time' },
    current: { type: 'boolean' },
  },
} as const;

export const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        details: {},
      },
    },
  },
} as const;

/** Response schemas for the given error statuses, for a route's `response` block. */
export function errors(...statuses: number[]): Record<number, typeof errorSchema> {
  return Object.fromEntries(statuses.map((status) => [status, errorSchema]));
}
