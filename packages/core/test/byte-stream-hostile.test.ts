/**
 * Byte streams against a scripted hostile peer (docs/security.md "Attacks on the RPC
 * engine"): a peer that never grants credit, one that asks for more than its share or
 * sends more than its credit, and a flood of stream opens. Each is bounded and closes at
 * most its own connection.
 */
import { describe, expect, it } from 'vitest';
import { type Connection, connectTransport } from '../src/connection.js';
import { memoryTransportPair } from '../src/memory-transport.js';
import { Service } from '../src/service.js';
import { waitFor } from './helpers.js';
import { callExport, RawPeer } from './raw-peer.js';

const ITERATE = 4;
const TAG_ARRAY = 0;
const TAG_STREAM = 8;

const sources = { produced: 0, cancelled: 0 };

class Victim extends Service {
  /** A stream of 64 KiB chunks without end, counting what was read of it. */
  offer(): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          controller.enqueue(new Uint8Array(64 * 1024));
          sources.produced += 64 * 1024;
        },
        cancel() {
          sources.cancelled++;
        },
      },
      { highWaterMark: 0 },
    );
  }
  /** Reads the caller's stream to its end; its length, or the code of what went wrong. */
  async consume(stream: ReadableStream<Uint8Array>): Promise<number | string> {
    try {
      let total = 0;
      for await (const chunk of stream) total += chunk.byteLength;
      return total;
    } catch (error) {
      return (error as { code?: string }).code ?? String(error);
    }
  }
}

async function victimAndPeer(options = {}): Promise<{ victim: Connection; peer: RawPeer }> {
  const [a, b] = memoryTransportPair();
  const peer = new RawPeer(b);
  peer.hello();
  const victim = await connectTransport(a, { service: Victim, ...options });
  return { victim, peer };
}

/** The ITERATE requests the victim sent us, as [qid, target id, credit]. */
function reads(peer: RawPeer): [number, number, number][] {
  return peer.others
    .filter((m) => m[0] === 1 && m[2] === ITERATE)
    .map((m) => [m[1] as number, m[4] as number, (m[6] as unknown[])[0] as number]);
}

/** Whether the victim released its reference to our object `id` (HOUSEKEEPING or riding). */
function released(peer: RawPeer, id: number): boolean {
  return peer.others.some((m) => {
    const releases = m[0] === 4 ? m[2] : m[0] === 1 ? m[9] : undefined;
    if (!Array.isArray(releases)) return false;
    for (let i = 0; i + 1 < releases.length; i += 2) if (releases[i] === id) return true;
    return false;
  });
}

describe('byte streams against a hostile peer', () => {
  it('a peer that never grants credit makes the owner read nothing', async () => {
    const { victim, peer } = await victimAndPeer();
    const before = sources.produced;
    peer.send(callExport(1, 0, ['offer']));
    await peer.replied(1);
    const stream = peer.replies.get(1)!.value as unknown[];
    expect(stream[0]).toBe(TAG_STREAM);
    await new Promise((r) => setTimeout(r, 100));
    expect(sources.produced).toBe(before);
    expect(victim.stats().exports).toBe(1);
    // Closing the connection cancels the source nobody read.
    const cancelled = sources.cancelled;
    peer.close();
    await waitFor(() => sources.cancelled === cancelled + 1);
  });

  it('a read asking for more than the owner allows is answered with at most its chunk', async () => {
    const { victim, peer } = await victimAndPeer({ maxMessageBytes: 64 * 1024 });
    peer.send(callExport(1, 0, ['offer']));
    await peer.replied(1);
    const id = (peer.replies.get(1)!.value as number[])[1]!;
    peer.send([1, 2, ITERATE, 0, id, null, [TAG_ARRAY, 1e12], 0]);
    await peer.replied(2);
    const answer = peer.replies.get(2)!.value as { chunks: unknown[]; done: boolean };
    const bytes = answer.chunks.slice(1).reduce((n: number, c) => n + (c as Uint8Array).length, 0);
    expect(bytes).toBeGreaterThan(0);
    // Half the message limit less room for the envelope: the answer always fits.
    expect(bytes).toBe(32 * 1024 - 1024);
    expect(victim.isClosed).toBe(false);
    victim.close();
  });

  it('a stream that sends more than the credit fails the read with ERR_LIMIT_EXCEEDED', async () => {
    const window = 64 * 1024;
    const { victim, peer } = await victimAndPeer({ streamWindowBytes: window });
    peer.send(callExport(1, 0, ['consume'], [[TAG_STREAM, 7]]));
    await waitFor(() => reads(peer).length > 0);
    const [qid, target, credit] = reads(peer)[0]!;
    expect(target).toBe(7);
    expect(credit).toBeLessThanOrEqual(window);
    peer.send([2, qid, { chunks: [TAG_ARRAY, new Uint8Array(credit + 1)], done: false }]);
    await peer.replied(1);
    expect(peer.replies.get(1)!.value).toBe('ERR_LIMIT_EXCEEDED');
    // The victim let go of the stream (a release of reference 7) and stays up.
    await waitFor(() => released(peer, 7));
    expect(victim.isClosed).toBe(false);
    expect(victim.stats().questions).toBe(0);
    victim.close();
  });

  it('an answer of out-of-line chunks past the credit, or not of chunks, fails the read', async () => {
    const TAG_PART = 15;
    const cases: [string, (qid: number, credit: number, peer: RawPeer) => void][] = [
      [
        'ERR_LIMIT_EXCEEDED',
        (qid, credit, peer) =>
          peer.sendWithParts(
            [2, qid, { chunks: [TAG_ARRAY, [TAG_PART, 0], [TAG_PART, 1]], done: false }],
            [new Uint8Array(credit), new Uint8Array(1)],
          ),
      ],
      [
        'ERR_PROTOCOL',
        (qid, _credit, peer) =>
          peer.sendWithParts(
            [2, qid, { chunks: [TAG_ARRAY, [TAG_PART, 0], 5], done: false }],
            [new Uint8Array(10)],
          ),
      ],
      [
        'ERR_PROTOCOL',
        (qid, _credit, peer) =>
          peer.send([2, qid, { chunks: [TAG_ARRAY, [TAG_ARRAY, 1, 2]], done: false }]),
      ],
      ['ERR_PROTOCOL', (qid, _credit, peer) => peer.send([2, qid, { chunks: 5, done: true }])],
    ];
    for (const [code, answer] of cases) {
      const { victim, peer } = await victimAndPeer({ streamWindowBytes: 64 * 1024 });
      peer.send(callExport(1, 0, ['consume'], [[TAG_STREAM, 7]]));
      await waitFor(() => reads(peer).length > 0);
      const [qid, , credit] = reads(peer)[0]!;
      answer(qid, credit, peer);
      await peer.replied(1);
      expect(peer.replies.get(1)!.value).toBe(code);
      await waitFor(() => released(peer, 7));
      expect(victim.isClosed).toBe(false);
      victim.close();
    }
  });

  it('a flood of stream opens is bounded by the reference limits', async () => {
    // Streams of the peer: each is an import; past maxLiveReferences the connection closes.
    const flood = await victimAndPeer({ maxLiveReferences: 50 });
    const args = Array.from({ length: 100 }, (_, i) => [TAG_STREAM, i + 1]);
    flood.peer.send(callExport(1, 0, ['consume'], args));
    await waitFor(() => flood.victim.isClosed);
    expect(((await flood.victim.closed) as { code?: string }).code).toBe('ERR_LIMIT_EXCEEDED');
    // Streams of ours the peer asks for: each is an export; past the limit the call is
    // refused and the stream it would have sent is cancelled.
    const { victim, peer } = await victimAndPeer({ maxLiveReferences: 20 });
    const cancelled = sources.cancelled;
    for (let qid = 1; qid <= 30; qid++) peer.send(callExport(qid, 0, ['offer']));
    await peer.replied(30);
    expect(peer.counts.get(null)).toBe(20);
    expect(peer.counts.get('ERR_LIMIT_EXCEEDED')).toBe(10);
    await waitFor(() => sources.cancelled === cancelled + 10);
    expect(victim.isClosed).toBe(false);
    victim.close();
  });
});
