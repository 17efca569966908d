/**
 * The server-wide resource budget (docs/security.md "Worst-case memory"): one
 * `SharedBudget` per server, given to every connection it serves, with the peer's
 * identity as the key, so that all connections together stay within the budget and one
 * identity (a user, a key, or an anonymous source address) cannot take more than its share.
 */
import { type BudgetLimits, type ResourceBudget, SharedBudget } from '@keyway/core';
import { type Credentials, sourceKey } from '@keyway/secure';

/**
 * The `budget` option of a server: sizes for the server's own `SharedBudget` (each missing
 * size takes its `DEFAULT_BUDGET_LIMITS` value), or a budget to share with other servers.
 */
export type BudgetOption = Partial<BudgetLimits> | ResourceBudget;

function isBudget(option: BudgetOption): option is ResourceBudget {
  return typeof (option as Partial<ResourceBudget>).open === 'function';
}

/**
 * The budget a server gives its connections.
 * @throws {RangeError} For a size out of range.
 */
export function serverBudget(option: BudgetOption | undefined): ResourceBudget {
  if (option !== undefined && (typeof option !== 'object' || option === null))
    throw new TypeError('budget must be an object of sizes or a budget with open(key)');
  return option !== undefined && isBudget(option) ? option : new SharedBudget(option);
}

/**
 * The sizes of each worker's budget in a pool of `threads` workers: the server's totals
 * split evenly, the share fraction unchanged.
 * @throws {TypeError} For a budget object: it cannot cross to worker threads.
 */
export function workerBudgetLimits(
  option: BudgetOption | undefined,
  threads: number,
): Readonly<BudgetLimits> {
  if (option !== undefined && isBudget(option))
    throw new TypeError(
      'ThreadPoolServer: budget must be sizes; a budget object cannot reach workers',
    );
  // Checks every size before it is split.
  const { limits } = new SharedBudget(option);
  const split = (n: number) => Math.max(1, Math.floor(n / threads));
  return Object.freeze({
    maxRequestBytes: split(limits.maxRequestBytes),
    maxReferences: split(limits.maxReferences),
    maxCalls: split(limits.maxCalls),
    share: limits.share,
  });
}

/**
 * Who a peer is, for its share of the budget: the user name when a method established one,
 * else the key's fingerprint, else the source address (IPv6 grouped by /64, as failed
 * logins are counted).
 */
export function budgetKeyOf(credentials: Credentials): string {
  if (credentials.user !== undefined) return `user:${credentials.user}`;
  if (credentials.publicKey !== undefined) return `key:${credentials.publicKey.fingerprint}`;
  return `source:${sourceKey(credentials.remoteAddress)}`;
}
