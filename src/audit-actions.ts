/**
 * Every audit action the service writes, in one list. docs/audit-actions.md describes each one and
 * a test checks that none is missing there. An action is never a free string.
 */
export const AUDIT_ACTIONS = {
  register: 'auth.register',
  registerFailed: 'auth.register_failed',
  registerRateLimited: 'auth.register_rate_limited',
  login: 'auth.login',
  loginFailed: 'auth.login_failed',
  loginRateLimited: 'auth.login_rate_limited',
  logout: 'auth.logout',
  logoutAll: 'auth.logout_all',
  passwordChange: 'auth.password_change',
  passwordChangeFailed: 'auth.password_change_failed',
  tokenRejected: 'auth.token_rejected',
  forbidden: 'auth.forbidden',
  sessionRevoke: 'session.revoke',
  adminUserList: 'admin.user.list',
  adminUserUpdate: 'admin.user.update',
  adminUserDelete: 'admin.user.delete',
  adminUserSessions: 'admin.user.sessions',
  adminAuditQuery: 'admin.audit.query',
} as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[keyof typeof AUDIT_ACTIONS];
