/**
 * A rejection nobody handles ends a Node process, and with it every connection it serves.
 * The engine settles its own promises in promise callbacks, pipelines calls on calls,
 * waits for arguments that are pending results: whatever sequence a peer sends, none of
 * that may ever reject unhandled. Random hostile sequences, with the process listener on.
 */
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectTransport } from '../src/connection.js';
import { KeywayError } from '../src/errors.js';
import { memoryTransportPair } from '../src/memory-transport.js';
import { Service } from '../src/service.js';

const raw = new Packr({ useRecords: false, useBigIntExtension: true });

let openGate: () => void = () => {};
let gate: Promise<void> = Promise.resolve();

class Node {
  where(): Node {
    return this;
  }
  async boom(): Promise<never> {
    await gate;
    throw new Error('boom');
  }
  get later(): Promise<never> {
    return Promise.reject(new Error('async getter failed'));
  }
  [Symbol.dispose](): void {}
}

class Target extends Service {
  async start(): Promise<Node> {
    await gate;
    return new Node();
  }
  add(a: number, b: number): number {
    return a + b;
  }
  fail(): never {
    throw new Error('fails at once');
  }
  async failAsync(): Promise<never> {
    await gate;
    throw new Error('fails later');
  }
  hang(): Promise<never> {
    return new Promise(() => {});
  }
  node(): Node {
    return new Node();
  }
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
  process.off('uncaughtException', onUnhandled);
});

const qid = fc.integer({ min: 1, max: 10 });
const name = fc.constantFrom('start', 'where', 'add', 'fail', 'failAsync', 'hang', 'node', 'boom');
const path = fc.oneof(
  fc.constant(null),
  fc.array(fc.oneof(name, fc.constantFrom('later', 'constructor', 'then')), {
    minLength: 1,
    maxLength: 3,
  }),
);
const arg = fc.oneof(
  fc.integer({ min: 0, max: 3 }),
  qid.map((q) => [7, q]),
  fc.tuple(qid, path).map(([q, p]) => (p === null ? [7, q] : [7, q, p])),
  path.map((p) => (p === null ? [6, 0] : [6, 0, p])),
);
const request = fc
  .tuple(
    qid,
    fc.integer({ min: 0, max: 6 }),
    fc.integer({ min: 0, max: 1 }),
    fc.integer({ min: 0, max: 10 }),
    path,
    fc.oneof(fc.constant(null), fc.array(arg, { maxLength: 2 })),
    fc.option(fc.tuple(fc.array(qid, { maxLength: 3 }), fc.constant([]))),
  )
  .map(([q, op, kind, target, p, args, ride]) => {
    const message: unknown[] = [1, q, op, kind, target, p, args, 0];
    if (ride !== null) message.push(...ride);
    return message;
  });
const message = fc.oneof(
  { weight: 6, arbitrary: request },
  { weight: 1, arbitrary: qid.map((q) => [5, q]) },
  { weight: 1, arbitrary: fc.array(qid, { maxLength: 3 }).map((f) => [4, f, [1, 1]]) },
);

describe('no sequence of a peer rejects a promise unhandled', () => {
  it('random requests, pipelines, pending arguments, finishes and cancels', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(message, { minLength: 1, maxLength: 30 }),
        fc.boolean(),
        async (messages, disposeOnRelease) => {
          gate = new Promise((resolve) => {
            openGate = resolve;
          });
          const [a, b] = memoryTransportPair();
          b.start({ onMessage: () => {}, onClose: () => {} });
          b.send(raw.pack([0, 'keyway-rpc', 1]));
          const victim = await connectTransport(a, {
            service: Target,
            disposeOnRelease,
            maxPipelineDepth: 3,
            timeout: 100,
          });
          for (const m of messages) b.send(raw.pack(m));
          openGate();
          await new Promise((r) => setTimeout(r, 2));
          if (victim.isClosed) expect(await victim.closed).toBeInstanceOf(KeywayError);
          await victim.close();
          await new Promise((r) => setTimeout(r, 0));
          expect(unhandled).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  }, 60_000);
});
