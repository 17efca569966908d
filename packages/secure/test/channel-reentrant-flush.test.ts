/**
 * A stream whose `write` runs other code at once (an in-memory pair, a custom transport)
 * may make another channel of the thread send, or this one, in the middle of a flush. The
 * batch a channel laid out must be sealed as it was laid out, under its own key, and
 * whatever is sent from inside the write must leave in order.
 */
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { performHandshake } from '../src/channel/perform-handshake.js';
import type { SecureChannel } from '../src/channel/secure-channel.js';
import { nodeCryptoProvider } from '../src/crypto/node-provider.js';
import { PROLOGUE, record } from './channel-helpers.js';

/** An in-memory pair whose first end runs `hook.onWrite` inside every write, at once. */
function hookedPair(): { ends: [Duplex, Duplex]; hook: { onWrite?: () => void } } {
  const hook: { onWrite?: () => void } = {};
  const make = (hooked: boolean): Duplex & { peer?: Duplex } => {
    const d: Duplex & { peer?: Duplex } = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        d.peer!.push(chunk);
        if (hooked) hook.onWrite?.();
        cb();
      },
      final(cb) {
        d.peer!.push(null);
        cb();
      },
    });
    return d;
  };
  const a = make(true);
  const b = make(false);
  a.peer = b;
  b.peer = a;
  return { ends: [a, b], hook };
}

async function pairOver(
  ends: [Duplex, Duplex],
  afterFrames?: number,
): Promise<{ client: SecureChannel; server: SecureChannel }> {
  const provider = nodeCryptoProvider;
  const [client, server] = await Promise.all([
    performHandshake(ends[0], {
      role: 'initiator',
      staticKeyPair: provider.generateKeyPair(),
      prologue: PROLOGUE,
      verifyRemote: () => {},
      provider,
      ...(afterFrames !== undefined && { channel: { rekey: { afterFrames } } }),
    }),
    performHandshake(ends[1], {
      role: 'responder',
      staticKeyPair: provider.generateKeyPair(),
      prologue: PROLOGUE,
      verifyRemote: () => {},
      provider,
    }),
  ]);
  return { client: client.channel, server: server.channel };
}

const text = (m: Uint8Array) => new TextDecoder().decode(m);
const bytes = (s: string) => new TextEncoder().encode(s);

describe('a flush that re-enters through the stream', () => {
  it("another channel flushing during this one's REKEY write does not replace its batch", async () => {
    const a = hookedPair();
    const b = hookedPair();
    const first = await pairOver(a.ends, 1);
    const second = await pairOver(b.ends);
    const atA = record(first.server);
    const atB = record(second.server);
    first.client.send(bytes('a-first'));
    await atA.waitFor(1);
    // The next flush of A is due to rekey: its REKEY frame is written before the batch.
    // Inside that write, B flushes a batch of its own (queued after A's, so still there).
    let fired = false;
    a.hook.onWrite = () => {
      if (fired) return;
      fired = true;
      second.client.close();
    };
    first.client.send(bytes('a-second'));
    first.client.send(bytes('a-third'));
    second.client.send(bytes('B-SECRET-1'));
    second.client.send(bytes('B-SECRET-2'));
    await atA.waitFor(3);
    await atB.waitFor(2);
    expect(fired).toBe(true);
    expect(atA.messages.map(text)).toEqual(['a-first', 'a-second', 'a-third']);
    expect(atB.messages.map(text)).toEqual(['B-SECRET-1', 'B-SECRET-2']);
    first.client.close();
  });

  it('messages the same channel sends from inside its REKEY write leave after the batch', async () => {
    const a = hookedPair();
    const first = await pairOver(a.ends, 1);
    const atA = record(first.server);
    first.client.send(bytes('one'));
    await atA.waitFor(1);
    let fired = false;
    a.hook.onWrite = () => {
      if (fired) return;
      fired = true;
      first.client.send(bytes('four'));
      first.client.send(new Uint8Array(20_000).fill(5));
    };
    first.client.send(bytes('two'));
    first.client.send(bytes('three'));
    await atA.waitFor(5);
    expect(fired).toBe(true);
    expect(atA.messages.slice(0, 4).map(text)).toEqual(['one', 'two', 'three', 'four']);
    expect(atA.messages[4]!.length).toBe(20_000);
    first.client.close();
  });

  it('a send() whose flush closed the channel throws instead of queueing', async () => {
    const a = hookedPair();
    const first = await pairOver(a.ends);
    record(first.server);
    // Fill the batch so that the next send flushes it first; that write closes the channel.
    const big = new Uint8Array(4000);
    let batched = 0;
    while ((batched + 1) * (2 + big.length) <= 16 * 1024 - 17) {
      first.client.send(big);
      batched++;
    }
    let writes = 0;
    a.hook.onWrite = () => {
      writes++;
      first.client.close();
    };
    let thrown: unknown;
    try {
      first.client.send(big);
    } catch (error) {
      thrown = error;
    }
    expect({ writes, batched }).toEqual({ writes: 2, batched: 4 });
    expect(String(thrown)).toMatch(/closed/);
  });
});
