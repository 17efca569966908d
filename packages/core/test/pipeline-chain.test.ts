/**
 * Long chains of pipelined calls (docs/protocol.md §5, §9 `maxPipelineDepth`). A call
 * pipelined on a pending one waits for it; when the base settles, its waiters used to run
 * nested inside one another, so a chain of a few thousand links overflowed the stack
 * inside a promise callback: an unhandled rejection, which ends a Node process and every
 * connection it serves. These tests send such chains from a hostile peer, both ways.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Connection, connectTransport } from '../src/connection.js';
import { duplexTransport } from '../src/duplex-transport.js';
import { LimitExceededError } from '../src/errors.js';
import type { Remote } from '../src/remote.js';
import { Service } from '../src/service.js';
import { connectionPair, tcpPair, waitFor } from './helpers.js';
import { callAnswer, callExport, RawPeer } from './raw-peer.js';

const LINKS = 100_000;
const DEPTH = 1024;

/** A by-reference object whose method returns itself, so calls on it chain without end. */
class Chain {
  where(): Chain {
    return this;
  }
}

let openGate: () => void = () => {};
let gate: Promise<void> = Promise.resolve();
function closeGate(): void {
  gate = new Promise((resolve) => {
    openGate = resolve;
  });
}

class Query extends Service {
  /** Settles only when the test opens the gate, so a whole chain waits on it. */
  async start(): Promise<Chain> {
    await gate;
    return new Chain();
  }
  add(a: number, b: number): number {
    return a + b;
  }
  /** Holds the callback so the peer may call it. */
  subscribe(_callback: () => unknown): Promise<void> {
    return new Promise(() => {});
  }
}

// A rejection nobody handles ends a Node process: no sequence of a peer may cause one.
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
  closeGate();
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
  process.off('uncaughtException', onUnhandled);
  openGate();
  expect(unhandled).toEqual([]);
});

/** A victim connection over TCP and the hostile raw peer on the other end. */
async function hostileOverTcp(options = {}): Promise<{ victim: Connection; peer: RawPeer }> {
  const { client, server } = await tcpPair();
  const peer = new RawPeer(duplexTransport(client));
  peer.hello();
  const victim = await connectTransport(duplexTransport(server), { service: Query, ...options });
  return { victim, peer };
}

/** Sends `start()` on `target` then `links` calls each pipelined on the previous one. */
function sendChain(peer: RawPeer, first: unknown[], links: number): number {
  peer.send(first);
  for (let qid = 2; qid <= links; qid++) peer.send(callAnswer(qid, qid - 1, ['where']));
  // Replies come in order of processing: once this one is back, every link has arrived.
  const marker = links + 1;
  peer.send(callExport(marker, 0, ['add'], [1, 2]));
  return marker;
}

/** Every link answered: those within the depth limit resolve, the rest fail typed. */
function expectChainAnswered(peer: RawPeer, links: number): void {
  // Tallied first: one expect per link would cost more than the chain itself.
  let resolved = 0;
  let refused = 0;
  const wrong: number[] = [];
  for (let qid = 1; qid <= links; qid++) {
    const reply = peer.replies.get(qid);
    if (qid <= DEPTH + 1 && reply?.kind === 2) resolved++;
    else if (qid > DEPTH + 1 && reply?.kind === 3 && reply.code === 'ERR_LIMIT_EXCEEDED') refused++;
    else if (wrong.length < 5) wrong.push(qid);
  }
  expect(wrong).toEqual([]);
  expect(resolved).toBe(DEPTH + 1);
  expect(refused).toBe(links - DEPTH - 1);
}

describe('a long chain of pipelined calls', () => {
  it('100,000 links over TCP from a hostile client: the server stays up, an honest client still works', async () => {
    const honest = await connectionPair('tcp', { service: Query });
    // Room for the whole chain, so only the pipeline depth stands in its way.
    const { victim, peer } = await hostileOverTcp({ maxPendingCalls: 2 * LINKS });
    const marker = sendChain(peer, callExport(1, 0, ['start']), LINKS);
    await waitFor(() => peer.replies.has(marker) || peer.closed, 30_000);
    openGate();
    await peer.replied(marker, 30_000);
    expect(peer.closed).toBe(false);
    expect(victim.isClosed).toBe(false);
    expectChainAnswered(peer, LINKS);
    expect(await (honest.client.root as Remote<Query>).add(2, 3)).toBe(5);
    peer.close();
    await honest.client.close();
  }, 90_000);

  it('100,000 links with the default limits: every link gets a typed answer, the connection stays open', async () => {
    const honest = await connectionPair('tcp', { service: Query });
    const { victim, peer } = await hostileOverTcp();
    const marker = sendChain(peer, callExport(1, 0, ['start']), LINKS);
    await waitFor(() => peer.replies.has(marker) || peer.closed, 30_000);
    openGate();
    await peer.replied(marker, 30_000);
    expect(victim.isClosed).toBe(false);
    // Past the depth limit or past the pending-call limit: the same typed refusal.
    expectChainAnswered(peer, LINKS);
    expect(await (honest.client.root as Remote<Query>).add(2, 3)).toBe(5);
    peer.close();
    await honest.client.close();
  }, 90_000);

  it('q = q.where() 3,000 times through the public API: the link past the depth limit fails typed', async () => {
    const { client, server } = await connectionPair('memory', { service: Query });
    const api = client.root as Remote<Query>;
    const links: Promise<unknown>[] = [];
    let q = api.start() as unknown as Remote<Chain>;
    for (let i = 0; i < 3000; i++) {
      q = q.where() as unknown as Remote<Chain>;
      links.push(
        Promise.resolve(q).then(
          () => 'ok',
          (error: unknown) => error,
        ),
      );
    }
    openGate();
    const results = await Promise.all(links);
    // Link i (0-based) is at depth i + 1 on top of start().
    expect(results.slice(0, DEPTH)).toEqual(new Array(DEPTH).fill('ok'));
    for (const result of results.slice(DEPTH)) {
      expect(result).toBeInstanceOf(LimitExceededError);
      expect(result).toMatchObject({ code: 'ERR_LIMIT_EXCEEDED' });
    }
    expect(server.isClosed).toBe(false);
    expect(await api.add(1, 1)).toBe(2);
    await client.close();
  }, 60_000);

  it('a chain within maxPipelineDepth resolves; the option lowers the limit', async () => {
    const { client } = await connectionPair('memory', { service: Query, maxPipelineDepth: 5 });
    const api = client.root as Remote<Query>;
    openGate();
    const ok = api.start().where().where().where().where().where();
    expect(await (ok as unknown as Promise<unknown>).then(() => 'ok')).toBe('ok');
    const tooDeep = api.start().where().where().where().where().where().where();
    await expect(tooDeep).rejects.toMatchObject({ code: 'ERR_LIMIT_EXCEEDED' });
    await client.close();
  });

  it('maxPipelineDepth is checked like the other limits', async () => {
    for (const bad of [0, -1, Number.NaN]) {
      await expect(connectionPair('memory', { maxPipelineDepth: bad })).rejects.toThrow(RangeError);
    }
  });

  it('the other direction: a hostile server pipelines 100,000 links on a client callback', async () => {
    const bystander = await connectionPair('memory', { service: Query });
    const { client: clientSocket, server: serverSocket } = await tcpPair();
    const peer = new RawPeer(duplexTransport(serverSocket));
    peer.hello();
    const victim = await connectTransport(duplexTransport(clientSocket), {
      service: Query,
      maxPendingCalls: 2 * LINKS,
    });
    const callback = async () => {
      await gate;
      return new Chain();
    };
    (victim.root as Remote<Query>).subscribe(callback).catch(() => {});
    await waitFor(() => peer.others.some((m) => m[0] === 1), 10_000);
    const subscribe = peer.others.find((m) => m[0] === 1)!;
    // The callback travelled as a reference to the client's export: [5, id].
    const callbackId = ((subscribe[6] as unknown[])[0] as [number, number])[1];
    const marker = sendChain(peer, callExport(1, callbackId, null), LINKS);
    await waitFor(() => peer.replies.has(marker) || peer.closed, 30_000);
    openGate();
    await peer.replied(marker, 30_000);
    expect(victim.isClosed).toBe(false);
    expectChainAnswered(peer, LINKS);
    expect(await (bystander.client.root as Remote<Query>).add(4, 4)).toBe(8);
    peer.close();
    await bystander.client.close();
  }, 90_000);
});
