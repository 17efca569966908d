/**
 * The pending-call limit (docs/protocol.md §5, §9 `maxPendingCalls`). It bounds what a
 * peer can make us hold: a request counts from its arrival until it has both settled and
 * been finished by the peer. The finishes riding on a request are applied before that
 * request is counted, so an honest client at the limit is never refused; a finish or
 * cancel of a call still running aborts its signal, but the call counts until it settles.
 * Over the limit a request is refused on its own (REJECT `ERR_LIMIT_EXCEEDED`); the
 * connection stays open.
 */
import { describe, expect, it } from 'vitest';
import { currentCall } from '../src/call-context.js';
import { type Connection, connectTransport } from '../src/connection.js';
import { duplexTransport } from '../src/duplex-transport.js';
import { memoryTransportPair } from '../src/memory-transport.js';
import type { Remote } from '../src/remote.js';
import { Service } from '../src/service.js';
import { connectionPair, tcpPair, waitFor } from './helpers.js';
import { callExport, RawPeer } from './raw-peer.js';

let openGate: () => void = () => {};
let gate: Promise<void> = Promise.resolve();
function closeGate(): void {
  gate = new Promise((resolve) => {
    openGate = resolve;
  });
}

class Work extends Service {
  static running = 0;
  static aborted = 0;
  /** Waits for the test's gate, then echoes. */
  async held(x: number): Promise<number> {
    await gate;
    return x;
  }
  add(a: number, b: number): number {
    return a + b;
  }
  /** Work parked by `hang`, as a real service keeps what a pending call waits for. */
  static parked: { settle: () => void; state: Uint8Array }[] = [];
  /** Never settles on its own, ignores its abort signal (only counts it), holds 1 KiB. */
  hang(): Promise<void> {
    Work.running++;
    currentCall().signal.addEventListener('abort', () => Work.aborted++);
    return new Promise((settle) => {
      Work.parked.push({ settle: () => settle(), state: new Uint8Array(1024) });
    });
  }
}

async function hostile(
  options = {},
  record = true,
): Promise<{ victim: Connection; peer: RawPeer }> {
  const { client, server } = await tcpPair();
  const peer = new RawPeer(duplexTransport(client), record);
  peer.hello();
  const victim = await connectTransport(duplexTransport(server), { service: Work, ...options });
  return { victim, peer };
}

function heapMiB(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

describe('maxPendingCalls', () => {
  it('an honest client keeping 10,000 calls in flight for 20,000 calls: all succeed (default limits)', async () => {
    const { server, client } = await connectionPair('tcp', { service: Work });
    const api = client.root as Remote<Work>;
    const LIMIT = 10_000;
    const TOTAL = 2 * LIMIT;
    closeGate();
    let launched = 0;
    let sum = 0;
    let answered = 0;
    // Each reply starts the next call at once: the finishes of the replies that just
    // arrived ride on that call, while the server still holds the other answers.
    const done = new Promise<void>((resolve, reject) => {
      const launch = () => {
        const i = launched++;
        api.held(i).then((value) => {
          sum += value;
          answered++;
          if (launched < TOTAL) launch();
          if (answered === TOTAL) resolve();
        }, reject);
      };
      for (let i = 0; i < LIMIT; i++) launch();
    });
    await waitFor(() => server.stats().serving === LIMIT || server.isClosed, 30_000);
    openGate();
    await done;
    expect(sum).toBe((TOTAL * (TOTAL - 1)) / 2);
    expect(server.isClosed).toBe(false);
    await client.close();
  }, 60_000);

  it('finishes riding on a request are applied before the request is counted', async () => {
    const [a, b] = memoryTransportPair();
    const peer = new RawPeer(b);
    peer.hello();
    const victim = await connectTransport(a, { service: Work, maxPendingCalls: 2 });
    peer.send(callExport(1, 0, ['add'], [1, 1]));
    peer.send(callExport(2, 0, ['add'], [2, 2]));
    await peer.replied(2);
    // At the limit: the request that finishes both earlier calls is served.
    peer.send([...callExport(3, 0, ['add'], [3, 3]), [1, 2], []]);
    peer.send(callExport(4, 0, ['add'], [4, 4]));
    await peer.replied(4);
    expect(peer.replies.get(3)).toMatchObject({ kind: 2, value: 6 });
    expect(peer.replies.get(4)).toMatchObject({ kind: 2, value: 8 });
    // Over the limit: refused on its own, the connection stays open.
    peer.send(callExport(5, 0, ['add'], [5, 5]));
    await peer.replied(5);
    expect(peer.replies.get(5)).toMatchObject({ kind: 3, code: 'ERR_LIMIT_EXCEEDED' });
    expect(victim.isClosed).toBe(false);
    await victim.close();
  });

  for (const how of ['finish', 'cancel'] as const) {
    it(`an attacker ${how}ing its own running calls cannot park 200,000 of them`, async () => {
      Work.running = 0;
      Work.aborted = 0;
      Work.parked = [];
      const bystander = await connectionPair('memory', { service: Work });
      const { victim, peer } = await hostile({}, false);
      const before = heapMiB();
      const CALLS = 200_000;
      const LIMIT = 10_000;
      for (let qid = 1; qid <= CALLS; qid++) {
        const request = callExport(qid, 0, ['hang']);
        // The finish of the previous call rides on this request; a cancel goes alone.
        if (how === 'finish') peer.send(qid === 1 ? request : [...request, [qid - 1], []]);
        else {
          peer.send(request);
          peer.send([5, qid]);
        }
      }
      await peer.replied(CALLS - LIMIT, 60_000);
      expect(peer.closed).toBe(false);
      expect(victim.isClosed).toBe(false);
      // Every call past the limit was refused on its own, with the typed error.
      expect(peer.counts.get('ERR_LIMIT_EXCEEDED')).toBe(CALLS - LIMIT);
      // What we hold is bounded by the limit; every call let go of was told to stop.
      expect(Work.running).toBe(LIMIT);
      expect(Work.aborted).toBe(LIMIT);
      const grown = heapMiB() - before;
      // About 30 MiB here for the 10,000 held; 200,000 parked would be twenty times that.
      expect(grown).toBeLessThan(100);
      // The parked calls still count (their methods ignore the signal): refused, not hung.
      peer.send(callExport(CALLS + 1, 0, ['add'], [1, 2]));
      await peer.replied(CALLS - LIMIT + 1);
      expect(peer.counts.get('ERR_LIMIT_EXCEEDED')).toBe(CALLS - LIMIT + 1);
      expect(await (bystander.client.root as Remote<Work>).add(2, 2)).toBe(4);

      // Once the parked calls settle, they stop counting: the connection serves again.
      for (const call of Work.parked) call.settle();
      Work.parked = [];
      peer.send(callExport(CALLS + 2, 0, ['add'], [1, 2]));
      await peer.replied(CALLS - LIMIT + 2);
      expect(peer.counts.get(null)).toBe(1);
      peer.close();
      await bystander.client.close();
    }, 120_000);
  }
});
