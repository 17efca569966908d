import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { type Connection, connectTransport } from '../src/connection.js';
import { ProtocolError } from '../src/errors.js';
import { memoryTransportPair } from '../src/memory-transport.js';
import type { Remote } from '../src/remote.js';
import { Service } from '../src/service.js';
import type { Transport } from '../src/transport.js';
import { connectionPair } from './helpers.js';

class Calculator extends Service {
  add(a: number, b: number) {
    return a + b;
  }
  hang() {
    return new Promise(() => {});
  }
}

const raw = new Packr({ useRecords: false, useBigIntExtension: true });

/** A scripted peer: it says hello correctly, then sends whatever the test wants. */
async function hostilePeer(
  options = {},
): Promise<{ victim: Connection; send(bytes: Uint8Array): void; peer: Transport }> {
  const [a, b] = memoryTransportPair();
  b.start({ onMessage: () => {}, onClose: () => {} });
  b.send(raw.pack([0, 'keyway-rpc', 1]));
  const victim = await connectTransport(a, { service: Calculator, ...options });
  return { victim, send: (bytes) => b.send(bytes), peer: b };
}

describe('a hostile peer closes only its own connection, with ProtocolError', () => {
  it('any byte string after the hello: a value or a typed error, never a crash or hang', async () => {
    const bystander = await connectionPair('memory', { service: Calculator });
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 64 }), async (bytes) => {
        const { victim, send } = await hostilePeer({ timeout: 200 });
        send(bytes);
        await new Promise((r) => setTimeout(r, 0));
        if (victim.isClosed) expect(await victim.closed).toBeInstanceOf(ProtocolError);
        await victim.close();
      }),
      { numRuns: 200 },
    );
    expect(await (bystander.client.root as Remote<Calculator>).add(2, 2)).toBe(4);
  });

  it('any well-formed but arbitrary message: served, refused or closed, never a crash', async () => {
    const bystander = await connectionPair('memory', { service: Calculator });
    const field = fc.oneof(
      fc.integer({ min: -2, max: 12 }),
      fc.constantFrom('add', 'hang', 'constructor', '__proto__', 'then', 'keyway-rpc'),
      fc.constant(null),
      fc.array(fc.oneof(fc.integer({ min: 0, max: 8 }), fc.string({ maxLength: 4 })), {
        maxLength: 4,
      }),
      fc.jsonValue({ maxDepth: 2 }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(field, { minLength: 1, maxLength: 10 }), { minLength: 1, maxLength: 4 }),
        async (messages) => {
          const { victim, send } = await hostilePeer({ timeout: 100 });
          for (const m of messages) send(raw.pack(m));
          await new Promise((r) => setTimeout(r, 0));
          if (victim.isClosed) expect(await victim.closed).toBeInstanceOf(ProtocolError);
          await victim.close();
        },
      ),
      { numRuns: 300 },
    );
    expect(await (bystander.client.root as Remote<Calculator>).add(2, 3)).toBe(5);
  });

  const cases: [string, () => Uint8Array, RegExp][] = [
    ['deep nesting', () => new Uint8Array(10_001).fill(0x91), /nesting deeper/],
    ['an unknown message kind', () => raw.pack([42]), /unknown message kind/],
    ['a second hello', () => raw.pack([0, 'keyway-rpc', 1]), /hello sent twice/],
    ['a non-string path step', () => raw.pack([1, 1, 3, 0, 0, [1], [], 0]), /malformed path/],
    ['an unknown value tag', () => raw.pack([1, 1, 3, 0, 0, ['add'], [[99]], 0]), /unknown tag/],
    ['an unknown operation', () => raw.pack([1, 1, 77, 0, 0, ['add'], [], 0]), /operation/],
    [
      'a reference to an object never exported',
      () => raw.pack([1, 1, 3, 0, 0, ['add'], [[6, 12345]], 0]),
      /not exported/,
    ],
    ['a msgpack record', () => Uint8Array.of(0xd4, 0x72, 0x00), /extension type/],
    ['a request pipelined on itself', () => raw.pack([1, 3, 3, 1, 3, null, [], 0]), /earlier/],
  ];
  for (const [what, bytes, message] of cases) {
    it(`${what}`, async () => {
      const bystander = await connectionPair('memory', { service: Calculator });
      const { victim, send } = await hostilePeer();
      send(bytes());
      const reason = await victim.closed;
      expect(reason).toBeInstanceOf(ProtocolError);
      expect((reason as Error).message).toMatch(message);
      expect(await (bystander.client.root as Remote<Calculator>).add(1, 2)).toBe(3);
    });
  }

  it('a message above maxMessageBytes', async () => {
    const { victim, send } = await hostilePeer({ maxMessageBytes: 1024 });
    send(raw.pack([1, 1, 3, 0, 0, ['add'], ['x'.repeat(2000)], 0]));
    const reason = await victim.closed;
    expect(reason).toMatchObject({ code: 'ERR_MESSAGE_TOO_LARGE' });
  });

  it('a duplicate request id', async () => {
    const { victim, send } = await hostilePeer();
    send(raw.pack([1, 7, 3, 0, 0, ['hang'], [], 0]));
    send(raw.pack([1, 7, 3, 0, 0, ['hang'], [], 0]));
    expect(await victim.closed).toBeInstanceOf(ProtocolError);
  });
});

describe('a flood of requests above maxPendingCalls', () => {
  it('each request past the limit is refused with ERR_LIMIT_EXCEEDED; the connection stays open', async () => {
    const [a, b] = memoryTransportPair();
    const codes: unknown[] = [];
    b.start({
      onMessage: (bytes) => {
        const m = raw.unpack(bytes) as unknown[];
        if (m[0] === 3) codes.push((m[2] as unknown[])[3]);
      },
      onClose: () => {},
    });
    b.send(raw.pack([0, 'keyway-rpc', 1]));
    const victim = await connectTransport(a, { service: Calculator, maxPendingCalls: 50 });
    for (let i = 1; i <= 60; i++) b.send(raw.pack([1, i, 3, 0, 0, ['hang'], [], 0]));
    await new Promise((r) => setTimeout(r, 10));
    expect(codes).toEqual(new Array(10).fill('ERR_LIMIT_EXCEEDED'));
    expect(victim.isClosed).toBe(false);
    await victim.close();
  });
});

describe('messages that waited for onConnect', () => {
  it('a bad request queued before the service was ready still closes with ProtocolError', async () => {
    const [a, b] = memoryTransportPair();
    b.start({ onMessage: () => {}, onClose: () => {} });
    b.send(raw.pack([0, 'keyway-rpc', 1]));
    b.send(raw.pack([1, 'bad id', 3, 0, 0, ['add'], [], 0]));
    class SlowStart extends Service {
      override async onConnect() {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const victim = await connectTransport(a, { service: SlowStart });
    expect(await victim.closed).toBeInstanceOf(ProtocolError);
  });
});
