/**
 * The DISPOSE operation from the wire (docs/protocol.md §3, §6, §7). Disposing an export is
 * the owner's local decision, taken when the peer releases its last reference and the
 * owner set `disposeOnRelease`; a peer that sends operation 5 itself is refused, whatever
 * it names: a shared root service, the per-connection root, or an object it was given.
 */
import { describe, expect, it } from 'vitest';
import { connectTransport } from '../src/connection.js';
import { memoryTransportPair } from '../src/memory-transport.js';
import { Service } from '../src/service.js';
import { waitFor } from './helpers.js';
import { RawPeer } from './raw-peer.js';

const DISPOSE = 5;

/** Counts how often anything disposed it, by either symbol. */
class Resource {
  static disposed = 0;
  read(): string {
    return 'data';
  }
  [Symbol.dispose](): void {
    Resource.disposed++;
  }
  async [Symbol.asyncDispose](): Promise<void> {
    Resource.disposed++;
  }
}

class Api extends Service {
  static disposed = 0;
  readonly #child = new Resource();
  get child(): Resource {
    return this.#child;
  }
  open(): Resource {
    return new Resource();
  }
  [Symbol.dispose](): void {
    Api.disposed++;
  }
  async [Symbol.asyncDispose](): Promise<void> {
    Api.disposed++;
  }
}

async function victimWith(options: { service: object; disposeOnRelease: boolean }) {
  const [a, b] = memoryTransportPair();
  const peer = new RawPeer(b);
  peer.hello();
  const victim = await connectTransport(a, options);
  return { victim, peer };
}

function dispose(qid: number, targetKind: number, targetId: number, path: string[] | null) {
  return [1, qid, DISPOSE, targetKind, targetId, path, null, 0];
}

for (const disposeOnRelease of [false, true]) {
  describe(`a peer's DISPOSE request is refused (disposeOnRelease ${disposeOnRelease})`, () => {
    it('on a shared root service with Symbol.dispose and Symbol.asyncDispose', async () => {
      Api.disposed = 0;
      const shared = new Api();
      const { victim, peer } = await victimWith({ service: shared, disposeOnRelease });
      peer.send(dispose(1, 0, 0, null));
      await peer.replied(1);
      expect(peer.replies.get(1)).toMatchObject({ kind: 3, code: 'ERR_ACCESS_DENIED' });
      expect(Api.disposed).toBe(0);
      expect(victim.isClosed).toBe(false);
      // The connection goes on: a call after the refusal is served.
      peer.send([1, 2, 3, 0, 0, ['open'], [], 0]);
      await peer.replied(2);
      expect(peer.replies.get(2)?.kind).toBe(2);
      await victim.close();
      // A shared root is never disposed, not even when its connection closes.
      expect(Api.disposed).toBe(0);
    });

    it('on the per-connection root, and on a member path of it', async () => {
      Api.disposed = 0;
      Resource.disposed = 0;
      const { victim, peer } = await victimWith({ service: Api, disposeOnRelease });
      peer.send(dispose(1, 0, 0, null));
      peer.send(dispose(2, 0, 0, ['child']));
      await peer.replied(2);
      expect(peer.replies.get(1)).toMatchObject({ kind: 3, code: 'ERR_ACCESS_DENIED' });
      expect(peer.replies.get(2)).toMatchObject({ kind: 3, code: 'ERR_ACCESS_DENIED' });
      expect(Api.disposed).toBe(0);
      expect(Resource.disposed).toBe(0);
      await victim.close();
    });

    it('on an object the peer was given by reference, directly or pipelined', async () => {
      Resource.disposed = 0;
      const { victim, peer } = await victimWith({ service: Api, disposeOnRelease });
      peer.send([1, 1, 3, 0, 0, ['open'], [], 0]);
      await peer.replied(1);
      const [tag, id] = peer.replies.get(1)!.value as [number, number];
      expect(tag).toBe(5);
      peer.send(dispose(2, 0, id, null));
      // Pipelined on a call that returns a fresh Resource.
      peer.send([1, 3, 3, 0, 0, ['open'], [], 0]);
      peer.send(dispose(4, 1, 3, null));
      await peer.replied(4);
      expect(peer.replies.get(2)).toMatchObject({ kind: 3, code: 'ERR_ACCESS_DENIED' });
      expect(peer.replies.get(4)).toMatchObject({ kind: 3, code: 'ERR_ACCESS_DENIED' });
      expect(Resource.disposed).toBe(0);

      // The documented rule still holds: releasing the last reference disposes the object
      // exactly when the owner asked for it.
      peer.send([4, [1, 2, 3, 4], [id, 1]]);
      if (disposeOnRelease) await waitFor(() => Resource.disposed > 0);
      else await new Promise((r) => setTimeout(r, 20));
      expect(Resource.disposed).toBe(disposeOnRelease ? 1 : 0);
      expect(victim.isClosed).toBe(false);
      await victim.close();
    });
  });
}
