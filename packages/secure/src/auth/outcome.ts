/**
 * How an authenticator reports: one log event per method tried, and on failure an
 * `AuthenticationError` whose reason stays local (the peer sees only that it failed).
 */
import { AuthenticationError } from '../errors.js';
import type { AuthContext, AuthLogEvent, AuthMethod } from './types.js';

/** Logs a failure and throws the uniform `AuthenticationError` carrying `reason`. */
export function fail(
  context: AuthContext,
  method: AuthMethod,
  reason: string,
  extra?: Partial<AuthLogEvent>,
): never {
  context.log?.({
    method,
    outcome: 'failure',
    remoteAddress: context.remoteAddress,
    reason,
    ...extra,
  });
  throw new AuthenticationError(`${method}: ${reason}`);
}

/** Logs a success. */
export function succeed(
  context: AuthContext,
  method: AuthMethod,
  extra?: Partial<AuthLogEvent>,
): void {
  context.log?.({
    method,
    outcome: 'success',
    remoteAddress: context.remoteAddress,
    reason: 'accepted',
    ...extra,
  });
}
