import { describe, expect, it } from 'vitest';
import {
  AccessDeniedError,
  KeywayError,
  MessageTooLargeError,
  RemoteError,
} from '../src/errors.js';
import type { Remote } from '../src/remote.js';
import { Service } from '../src/service.js';
import { connectionPair } from './helpers.js';

class InsufficientFunds extends Error {
  static constructed = 0;
  constructor(message: string) {
    super(message);
    this.name = 'InsufficientFunds';
    InsufficientFunds.constructed++;
  }
}

class Bank extends Service {
  fail() {
    const error = new Error('no', { cause: new TypeError('inner') }) as Error & { code: string };
    error.code = 'ERR_NO';
    throw error;
  }
  async failLater() {
    await new Promise((r) => setTimeout(r, 1));
    throw new RangeError('later');
  }
  overdraw() {
    throw new InsufficientFunds('balance too low');
  }
  throwString() {
    throw 'just a string';
  }
  notAFunction = 1;
}

describe('errors', () => {
  it('a remote throw rejects with RemoteError: name, message, code, cause; no stack by default', async () => {
    const { client } = await connectionPair('memory', { service: Bank });
    const bank = client.root as Remote<Bank>;
    const error = (await bank.fail().catch((e: unknown) => e)) as RemoteError;
    expect(error).toBeInstanceOf(RemoteError);
    expect(error.remoteName).toBe('Error');
    expect(error.message).toBe('no');
    expect(error.code).toBe('ERR_NO');
    expect(error.cause).toBeInstanceOf(Error);
    expect((error.cause as Error).name).toBe('TypeError');
    expect((error.cause as Error).message).toBe('inner');
    expect(error.remoteStack).toBeUndefined();
    const later = (await bank.failLater().catch((e: unknown) => e)) as RemoteError;
    expect(later.remoteName).toBe('RangeError');
    expect(later.code).toBe('ERR_REMOTE');
    const thrown = (await bank.throwString().catch((e: unknown) => e)) as RemoteError;
    expect(thrown.message).toBe('just a string');
  });

  it('the remote stack is sent only when the owner enables it', async () => {
    const { client } = await connectionPair('memory', { service: Bank, includeRemoteStack: true });
    const error = (await (client.root as Remote<Bank>)
      .fail()
      .catch((e: unknown) => e)) as RemoteError;
    expect(error.remoteStack).toMatch(/Bank\.fail/);
  });

  it('registered error classes are rebuilt by name without running their constructor', async () => {
    const { client } = await connectionPair(
      'memory',
      { service: Bank },
      { errorClasses: [InsufficientFunds] },
    );
    const before = InsufficientFunds.constructed;
    const error = await (client.root as Remote<Bank>).overdraw().catch((e: unknown) => e);
    expect(InsufficientFunds.constructed).toBe(before + 1); // only the server's throw
    expect(error).toBeInstanceOf(InsufficientFunds);
    expect((error as Error).message).toBe('balance too low');
    // Unregistered on the other side: data only.
    const { client: other } = await connectionPair('memory', { service: Bank });
    const plain = await (other.root as Remote<Bank>).overdraw().catch((e: unknown) => e);
    expect(plain).toBeInstanceOf(RemoteError);
    expect((plain as RemoteError).remoteName).toBe('InsufficientFunds');
    expect(InsufficientFunds.constructed).toBe(before + 2);
  });

  it('missing, denied and non-callable members give clear errors, not internal TypeErrors', async () => {
    const { client } = await connectionPair('memory', { service: Bank });
    const bank = client.root as unknown as Record<string, () => Promise<unknown>>;
    const missing = await bank.nope!().catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(AccessDeniedError);
    expect((missing as Error).message).toMatch(/"nope" denied: not an exposed member of a Bank/);
    const notCallable = await bank.notAFunction!().catch((e: unknown) => e);
    expect(notCallable).toBeInstanceOf(KeywayError);
    const { client: open } = await connectionPair('memory', {
      service: Bank,
      allowPublicAttrs: true,
    });
    const e2 = await (open.root as unknown as Record<string, () => Promise<unknown>>)
      .notAFunction!().catch((e: unknown) => e);
    expect((e2 as KeywayError).code).toBe('ERR_NOT_CALLABLE');
  });
});

describe('results that cannot be sent', () => {
  it('a result too large or not sendable rejects the caller with the reason', async () => {
    class Big extends Service {
      big() {
        return 'x'.repeat(5_000);
      }
      symbol() {
        return Symbol('no');
      }
    }
    const { client } = await connectionPair('memory', { service: Big, maxMessageBytes: 2_048 });
    const big = client.root as Remote<Big>;
    // keyway's own error classes are registered, so this one is rebuilt as itself.
    await expect(Promise.resolve(big.big())).rejects.toBeInstanceOf(MessageTooLargeError);
    await expect(Promise.resolve(big.symbol())).rejects.toMatchObject({ remoteName: 'TypeError' });
    expect(client.isClosed).toBe(false);
  });
});
