/**
 * The session is a sans-IO state machine: these tests drive it with bytes and a fake
 * clock, with no transport, socket or timer in between.
 */
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { Codec } from '../src/codec.js';
import { TimeoutError } from '../src/errors.js';
import type { ErrorClass } from '../src/serialize.js';
import { Service } from '../src/service.js';
import { Session, type SessionSettings } from '../src/session.js';

const wire = new Packr({ useRecords: false, mapsAsObjects: true, useBigIntExtension: true });

const settings: SessionSettings = {
  timeout: 1_000,
  maxDepth: 32,
  maxPendingCalls: 100,
  maxPipelineDepth: 64,
  maxLiveReferences: 100,
  includeRemoteStack: false,
  errorClasses: new Map<string, ErrorClass>(),
  iterationBatchSize: 16,
  streamWindowBytes: 64 * 1024,
  streamChunkBytes: 16 * 1024,
  allowPublicAttrs: false,
  allowSetAttrs: false,
  allowDeleteAttrs: false,
  disposeOnRelease: false,
};

function harness() {
  const sent: unknown[] = [];
  const timers: number[] = [];
  let clock = 1_000;
  let closedWith: Error | undefined | null = null;
  const session = new Session(
    new Codec({ maxMessageBytes: 1 << 20, maxDepth: 32 }),
    {
      send: (bytes) => sent.push(wire.unpack(bytes)),
      close: (error) => {
        closedWith = error;
      },
      armTimer: (at) => timers.push(at),
      scheduleFlush: () => {},
      now: () => clock,
    },
    settings,
  );
  return {
    session,
    sent,
    timers,
    feed: (message: unknown) => session.receive(wire.pack(message)),
    advance: (ms: number) => {
      clock += ms;
      session.expire(clock);
    },
    closedWith: () => closedWith,
  };
}

class Calc extends Service {
  add(a: number, b: number) {
    return a + b;
  }
}

describe('session state machine', () => {
  it('hello, then a request in, a reply out', async () => {
    const h = harness();
    const ready = h.session.start();
    expect(h.sent).toEqual([[0, 'keyway-rpc', 1]]);
    h.feed([0, 'keyway-rpc', 1]);
    await ready;
    // Requests that arrive before the service is ready wait for it.
    h.feed([1, 1, 3, 0, 0, ['add'], [2, 3], 0]);
    expect(h.sent).toHaveLength(1);
    h.session.ready(new Calc());
    expect(h.sent[1]).toEqual([2, 1, 5]);
    h.feed([4, [1], []]);
    expect(h.session.stats().answers).toBe(0);
  });

  it('a call out, a reply in; a deadline passes with the fake clock', async () => {
    const h = harness();
    const ready = h.session.start();
    h.feed([0, 'keyway-rpc', 1]);
    await ready;
    h.session.ready(new Calc());
    const q = h.session.request(h.session.rootStub, 3, [1], ['echo']);
    expect(h.sent.at(-1)).toEqual([1, q.qid, 3, 0, 0, ['echo'], [1], 1_000]);
    expect(h.timers[0]).toBe(2_000);
    h.feed([2, q.qid, 'pong']);
    await expect(q.promise()).resolves.toBe('pong');
    h.advance(1_500);
    const late = h.session.request(h.session.rootStub, 3, [], ['slow']);
    h.advance(999);
    expect(late.settled).toBe(false);
    h.advance(1);
    expect(late.settled).toBe(true);
    expect(late.value).toBeInstanceOf(TimeoutError);
    // The callee is told to stop.
    expect(h.sent.at(-1)).toEqual([5, late.qid]);
  });

  it('a malformed message closes the session with a ProtocolError and an ABORT', async () => {
    const h = harness();
    const ready = h.session.start();
    h.feed([0, 'keyway-rpc', 1]);
    await ready;
    h.session.ready(new Calc());
    h.feed([1, 'not a number']);
    expect(h.session.closed).toBe(true);
    expect(h.closedWith()).toMatchObject({ name: 'ProtocolError' });
    expect(h.sent.at(-1)).toEqual([8, 'ERR_PROTOCOL', 'bad or duplicate request id']);
  });
});
